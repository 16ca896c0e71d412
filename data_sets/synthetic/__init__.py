"""Synthetic data sets of every kind, for the demo, the tests, the benchmarks and trying the pipeline.

ct.py: the LiTS-like CT phantom (volumes, a taller scan, LiTS's file layout); photos.py: photos of coloured
shapes with masks (data=images); layouts.py: the phantom in nnU-Net's and KiTS19's layouts; makers.py:
the table of which maker writes which data set kind, and the checked write; configured.py: the settings read
from the config and the data set written where it reads it, what data_preparation/make_synthetic_data.py runs.
"""
