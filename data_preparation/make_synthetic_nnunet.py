"""Small synthetic data sets in nnU-Net's and KiTS19's layouts, for tests and trying data=nnunet / data=kits19.

    python data_preparation/make_synthetic_nnunet.py nnunet --out data/Dataset501_Phantom --cases 8 --test 2
    python data_preparation/make_synthetic_nnunet.py kits19 --out data/kits19/data --cases 8 --test 2

nnunet: DatasetNNN_Name/dataset.json (channels 0 CT and 1 T2, labels background 0, region organ [1, 2],
lesion 2, regions_class_order [1, 2]), imagesTr/phantom_NNN_0000.nii.gz (CT, HU) + _0001 (T2-like,
arbitrary positive units: brighter organ, brighter lesion), labelsTr/phantom_NNN.nii.gz, imagesTs/ for
--test cases (another size, so predictions must come back to each image's own grid), and with
--splits a splits_final.json. Voxels are stored in LPS-like orientation (x and y flipped).
kits19: case_NNNNN/imaging.nii.gz + segmentation.nii.gz (labels 0 background, 1 kidney, 2 tumour)
stored z-first as KiTS19 ships them (axes I, P, L: slices along the first array axis); the --test
cases' folders hold imaging only. Phantoms are those of make_synthetic_lits.py.
"""
import argparse
import json
import os

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, ornt_transform

from data_preparation.make_synthetic_lits import SPACING_MM, make_synthetic_volume

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


def make_nnunet(out: str, cases: int = 6, test: int = 2, size: int = 48, slices: int = 12, seed: int = 0,
                splits: bool = False) -> str:
    """Write an nnU-Net v2 raw data set into out (DatasetNNN_Name); returns out."""
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    names = [f"phantom_{number:03d}" for number in range(cases + test)]
    for number, name in enumerate(names):
        testing = number >= cases
        hu, labels = make_synthetic_volume(size + (8 if testing else 0), slices + (2 if testing else 0),
                                           seed=[seed, number])
        folder = "imagesTs" if testing else "imagesTr"
        nib.save(stored(hu, NNUNET_AXES, np.int16), os.path.join(out, folder, f"{name}_0000.nii.gz"))
        nib.save(stored(t2_channel(hu, labels, [seed, number, 1]), NNUNET_AXES, np.float32),
                 os.path.join(out, folder, f"{name}_0001.nii.gz"))
        if not testing:
            nib.save(stored(labels, NNUNET_AXES, np.uint8), os.path.join(out, "labelsTr", f"{name}.nii.gz"))
    with open(os.path.join(out, "dataset.json"), "w") as handle:
        json.dump({**DATASET_JSON, "numTraining": cases}, handle, indent=2)
    if splits:   # two folds, chosen by hand, as a user's splits_final.json would be
        half = names[:cases][::2], names[:cases][1::2]
        with open(os.path.join(out, "splits_final.json"), "w") as handle:
            json.dump([{"train": list(half[1]), "val": list(half[0])},
                       {"train": list(half[0]), "val": list(half[1])}], handle, indent=2)
    return out


def make_kits19(out: str, cases: int = 6, test: int = 1, size: int = 48, slices: int = 12, seed: int = 0) -> str:
    """Write KiTS19's data folder layout into out; returns out."""
    for number in range(cases + test):
        folder = os.path.join(out, f"case_{number:05d}")
        os.makedirs(folder, exist_ok=True)
        hu, labels = make_synthetic_volume(size, slices, seed=[seed, number])
        hu = np.where(labels > 0, hu + 80.0, hu)   # contrast-enhanced kidney ~150-200 HU, tumour ~90-110
        nib.save(stored(hu, KITS_AXES, np.float32), os.path.join(folder, "imaging.nii.gz"))
        if number < cases:
            nib.save(stored(labels, KITS_AXES, np.uint8), os.path.join(folder, "segmentation.nii.gz"))
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("layout", choices=("nnunet", "kits19"))
    parser.add_argument("--out", required=True, help="the DatasetNNN_Name folder (nnunet) or KiTS19's data folder")
    parser.add_argument("--cases", type=int, default=6, help="labelled cases")
    parser.add_argument("--test", type=int, default=2, help="unlabelled test cases (imagesTs / imaging only)")
    parser.add_argument("--size", type=int, default=48, help="slice height and width (>= 16)")
    parser.add_argument("--slices", type=int, default=12, help="slices per volume (>= 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", action="store_true", help="nnunet: also write a 2-fold splits_final.json")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.layout == "nnunet":
        make_nnunet(args.out, args.cases, args.test, args.size, args.slices, args.seed, args.splits)
    else:
        make_kits19(args.out, args.cases, args.test, args.size, args.slices, args.seed)
    print(f"wrote {args.cases} labelled and {args.test} test cases ({args.layout} layout) to {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
