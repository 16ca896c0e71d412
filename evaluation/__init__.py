"""Scoring predicted label volumes against reference segmentations on the CT's own grid (LiTS measures)."""
