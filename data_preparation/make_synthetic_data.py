"""Write a small synthetic data set of the configured kind where the config reads it, to try the pipeline without data.

    python data_preparation/make_synthetic_data.py --config-name demo
    python data_preparation/make_synthetic_data.py SYNTHETIC.TRAIN=8 SYNTHETIC.SIZE=256 SYNTHETIC.SLICES=64
    python data_preparation/make_synthetic_data.py data=images DATASET.TRAIN.IMAGES_PATH=data/photos/images DATASET.TRAIN.MASK_PATH=data/photos/masks DATASET.CLASSES=[background,red,green,blue]
    python data_preparation/make_synthetic_data.py data=nnunet DATA_PREPARATION.DATASET_PATH=data/Dataset501_Phantom SYNTHETIC.SPLITS=True
    python data_preparation/make_synthetic_data.py data=kits19 DATA_PREPARATION.DATASET_PATH=data/kits19/data

The same overrides then prepare and train on it (preprocess_data.py, train.py). SYNTHETIC.* sets the sizes
and counts (configs/config.yaml). Where each kind goes (data_sets/synthetic/makers.py):
lits: volume-N.nii + segmentation-N.nii phantoms (labels 1 liver, 2 tumour) into
  DATA_PREPARATION.SCANS_TRAIN_DATA_PATH and SCANS_VAL_DATA_PATH (data_sets/synthetic/ct.py);
images: photos of coloured shapes, photo_N.jpg + photo_N.png masks, into DATASET.TRAIN.IMAGES_PATH and
  MASK_PATH, and DATASET.VAL's (null: all into TRAIN); one class per DATASET.CLASSES name (at most 4),
  DATASET.BINARY_MASKS and DATASET.MASK_SUFFIX as set (data_sets/synthetic/photos.py);
nnunet / kits19: a DatasetNNN_Name folder (CT + T2 channels) or KiTS19's case folders in
  DATA_PREPARATION.DATASET_PATH, TRAIN + VAL labelled cases and TEST unlabelled ones (data_sets/synthetic/layouts.py).
A file that exists already stops it with one line before anything is written, unless SYNTHETIC.OVERWRITE=True.
"""
import app.tf_env  # noqa: F401  (before TensorFlow, which the config check loads: no CUDA error line on CPU machines)

from app.cli import hydra_app
from data_sets.synthetic.configured import make_synthetic_data

main = hydra_app(make_synthetic_data)


if __name__ == "__main__":
    main()
