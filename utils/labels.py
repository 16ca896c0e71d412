"""The LiTS label values, one definition for preparing, checking and scoring masks."""

CLASS_NAMES = ("background", "liver", "tumour")   # a mask's label value is the index here
LABEL_MAX = len(CLASS_NAMES) - 1


def class_names(cfg) -> tuple:
    """The configured class names (DATASET.CLASSES, label value = index), or the LiTS ones when not set."""
    from omegaconf import OmegaConf

    names = OmegaConf.select(cfg, "DATASET.CLASSES", default=None)
    return tuple(str(name) for name in names) if names else CLASS_NAMES
