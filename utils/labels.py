"""The LiTS label values, one definition for preparing, checking and scoring masks."""

CLASS_NAMES = ("background", "liver", "tumour")   # a mask's label value is the index here
LABEL_MAX = len(CLASS_NAMES) - 1
