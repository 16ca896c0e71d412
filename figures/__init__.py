"""Figures people look at: prediction rows, training curves, scores per case, volume views."""
