"""LiTS (the default kind): volume-N + segmentation-N NIfTI files in the train and val scans folders,
or DICOM CT series each with the DICOM SEG that references it (volumes.sources)."""
from typing import List, Tuple

from volumes.nifti import SEGMENTATION_SUFFIX, lits_number, nifti_stem
from volumes.sources import Source, find_ct_sources, find_volume_pairs, is_dicom

_SCANS_KEYS = {"train": "SCANS_TRAIN_DATA_PATH", "val": "SCANS_VAL_DATA_PATH"}


def split_pairs(cfg, split: str) -> List[Tuple[int, Source, str]]:
    """(volume id, CT, segmentation path) of the split's scans folder (a CT: a NIfTI path or a DICOM series)."""
    key = _SCANS_KEYS[split]
    return find_volume_pairs(cfg.DATA_PREPARATION[key], f"{split} scans directory (DATA_PREPARATION.{key})")


def output_name(volume_path: Source) -> str:
    """segmentation-N.nii.gz for LiTS's volume-N; test-segmentation-N.nii for its test-volume-N (the name
    and uncompressed form LiTS's evaluation server reads); <name>_segmentation.nii.gz for other names,
    a DICOM series' name (SeriesNumber and pseudonym) included."""
    if is_dicom(volume_path):
        return f"{volume_path.name}{SEGMENTATION_SUFFIX}.nii.gz"
    number = lits_number(volume_path)
    if number is not None:
        return f"segmentation-{number}.nii.gz"
    number = lits_number(volume_path, "test-volume")
    if number is not None:
        return f"test-segmentation-{number}.nii"
    return f"{nifti_stem(volume_path)}{SEGMENTATION_SUFFIX}.nii.gz"


prediction_inputs = find_ct_sources
