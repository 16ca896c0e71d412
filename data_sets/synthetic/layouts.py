"""Small synthetic data sets in nnU-Net's and KiTS19's layouts, for tests and trying data=nnunet / data=kits19.

nnunet: DatasetNNN_Name/dataset.json (channels 0 CT and 1 T2, labels background 0, region organ [1, 2],
lesion 2, regions_class_order [1, 2]), imagesTr/phantom_NNN_0000.nii.gz (CT, HU) + _0001 (T2-like,
arbitrary positive units: brighter organ, brighter lesion), labelsTr/phantom_NNN.nii.gz, imagesTs/ for
the test cases (another size, so predictions must come back to each image's own grid), and on request
a 2-fold splits_final.json. Voxels are stored in LPS-like orientation (x and y flipped).
kits19: case_NNNNN/imaging.nii.gz + segmentation.nii.gz (labels 0 background, 1 kidney, 2 tumour)
stored z-first as KiTS19 ships them (axes I, P, L: slices along the first array axis); the test
cases' folders hold imaging only. The phantoms are data_sets.synthetic.ct's.
data_preparation/make_synthetic_data.py writes them into DATA_PREPARATION.DATASET_PATH.
"""
import os
from typing import List, Optional, Tuple

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, ornt_transform

from data_sets.synthetic.ct import SPACING_MM, make_synthetic_volume, save_nifti
from utils.files import write_json

KITS_AXES = ("I", "P", "L")    # KiTS19's files: affine rows permuted, slices along array axis 0
NNUNET_AXES = ("L", "P", "S")  # flipped in-plane axes, as DICOM-derived (LPS) NIfTI files often are
DATASET_JSON = {
    "channel_names": {"0": "CT", "1": "T2"},
    "labels": {"background": 0, "organ": [1, 2], "lesion": 2},
    "regions_class_order": [1, 2],
    "file_ending": ".nii.gz",
}


def stored(data: np.ndarray, axes, dtype) -> nib.Nifti1Image:
    """A RAS+ array as a NIfTI image stored in another orientation (the same voxels in the world)."""
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), np.diag([*SPACING_MM, 1.0]))
    return image.as_reoriented(ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(axes)))


def t2_channel(hu: np.ndarray, labels: np.ndarray, seed) -> np.ndarray:
    """An MR-like second channel in arbitrary units: body ~300, organ ~500, lesion ~650, air ~20, noise."""
    rng = np.random.default_rng(seed)
    t2 = np.where(hu > -500, 300.0, 20.0) + 200.0 * (labels >= 1) + 150.0 * (labels == 2)
    return (t2 + rng.normal(0.0, 15.0, size=hu.shape)).astype(np.float32)


def _case_name(number: int) -> str:
    return f"phantom_{number:03d}"


def nnunet_case_paths(out: str, number: int, testing: bool) -> Tuple[str, str, Optional[str]]:
    """A case's two channel files and its label file (None for a test case)."""
    folder, name = os.path.join(out, "imagesTs" if testing else "imagesTr"), _case_name(number)
    label = None if testing else os.path.join(out, "labelsTr", f"{name}.nii.gz")
    return os.path.join(folder, f"{name}_0000.nii.gz"), os.path.join(folder, f"{name}_0001.nii.gz"), label


def nnunet_paths(out: str, cases: int = 6, test: int = 2, splits: bool = False) -> List[str]:
    """Every file make_nnunet writes."""
    files = [path for number in range(cases + test) for path in nnunet_case_paths(out, number, number >= cases) if path]
    return files + [os.path.join(out, "dataset.json")] + ([os.path.join(out, "splits_final.json")] if splits else [])


def make_nnunet(out: str, cases: int = 6, test: int = 2, size: int = 48, slices: int = 12, seed: int = 0,
                splits: bool = False) -> str:
    """Write an nnU-Net v2 raw data set into out (DatasetNNN_Name); returns out."""
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    for number in range(cases + test):
        testing = number >= cases
        hu, labels = make_synthetic_volume(size + (8 if testing else 0), slices + (2 if testing else 0),
                                           seed=[seed, number])
        ct, t2, label = nnunet_case_paths(out, number, testing)
        save_nifti(stored(hu, NNUNET_AXES, np.int16), ct)
        save_nifti(stored(t2_channel(hu, labels, [seed, number, 1]), NNUNET_AXES, np.float32), t2)
        if label:
            save_nifti(stored(labels, NNUNET_AXES, np.uint8), label)
    write_json(os.path.join(out, "dataset.json"), {**DATASET_JSON, "numTraining": cases})
    if splits:   # two folds, chosen by hand, as a user's splits_final.json would be
        names = [_case_name(number) for number in range(cases)]
        half = names[::2], names[1::2]
        write_json(os.path.join(out, "splits_final.json"), [{"train": list(half[1]), "val": list(half[0])},
                                                           {"train": list(half[0]), "val": list(half[1])}])
    return out


def kits19_case_paths(out: str, number: int, labelled: bool) -> Tuple[str, Optional[str]]:
    """A case's imaging file and its segmentation (None for a test case)."""
    folder = os.path.join(out, f"case_{number:05d}")
    return os.path.join(folder, "imaging.nii.gz"), os.path.join(folder, "segmentation.nii.gz") if labelled else None


def kits19_paths(out: str, cases: int = 6, test: int = 1) -> List[str]:
    """Every file make_kits19 writes."""
    return [path for number in range(cases + test) for path in kits19_case_paths(out, number, number < cases) if path]


def make_kits19(out: str, cases: int = 6, test: int = 1, size: int = 48, slices: int = 12, seed: int = 0) -> str:
    """Write KiTS19's data folder layout into out; returns out."""
    for number in range(cases + test):
        imaging, segmentation = kits19_case_paths(out, number, number < cases)
        os.makedirs(os.path.dirname(imaging), exist_ok=True)
        hu, labels = make_synthetic_volume(size, slices, seed=[seed, number])
        hu = np.where(labels > 0, hu + 80.0, hu)   # contrast-enhanced kidney ~150-200 HU, tumour ~90-110
        save_nifti(stored(hu, KITS_AXES, np.float32), imaging)
        if segmentation:
            save_nifti(stored(labels, KITS_AXES, np.uint8), segmentation)
    return out
