"""KiTS19 as it ships (data=kits19): `case_00000/imaging.nii.gz` + `segmentation.nii.gz` per case folder.

    DATA_PREPARATION.DATASET_PATH=<kits19/data>   case_00000 ... case_00209 (labelled), case_00210 ... (test: imaging only)

Labels 0 background, 1 kidney, 2 tumour (the tumour lies inside the kidney region, so labels nest);
scored as KiTS19 scores: kidney = labels 1+2, tumour = label 2. The volumes are stored z-first
(affine rows permuted, slices along the first array axis); volumes.nifti reads every file in RAS+
and writes predictions back in the file's own voxel order and affine. Validation is a fold of the
labelled cases, split as nnU-Net splits (data_sets.nnunet.nnunet_folds). predict.py writes
`prediction_XXXXX.nii.gz`, the names KiTS19's submission rules ask for
(https://kits19.grand-challenge.org/rules/: prediction_00210.nii.gz ... prediction_00299.nii.gz).
"""
import os
import re
from typing import List, Tuple

from data_sets.nnunet import dataset_path_of, fold_pairs, fold_values, raw_case_split
from utils.errors import UserError, warn
from data_sets.slice_names import CaseId, parse_case_id
from volumes.nifti import gather_nifti_files, nifti_stem

IMAGING, SEGMENTATION = "imaging.nii.gz", "segmentation.nii.gz"
_CASE = re.compile(r"^case_(\d{5})$")


def case_folders(folder: str) -> List[str]:
    """The `case_XXXXX` folders in folder, sorted."""
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if _CASE.match(n)
                  and os.path.isdir(os.path.join(folder, n)))


def labelled_cases(dataset_path: str) -> List[Tuple[CaseId, str, str]]:
    """(case, imaging, segmentation) of every case folder holding both; the test cases (imaging only) are counted
    and left out, a folder without imaging is warned about."""
    folders = case_folders(dataset_path)
    if not folders:
        raise UserError(f"{dataset_path} holds no case_XXXXX folders (KiTS19's data folder: case_00000/imaging.nii.gz "
                        f"+ segmentation.nii.gz)")
    cases, unlabelled = [], 0
    for folder in folders:
        name = os.path.basename(folder)
        imaging, segmentation = os.path.join(folder, IMAGING), os.path.join(folder, SEGMENTATION)
        if not os.path.isfile(imaging):
            warn(f"{name} has no {IMAGING}; skipped")
        elif not os.path.isfile(segmentation):
            unlabelled += 1
        else:
            cases.append((parse_case_id(name), imaging, segmentation))
    if unlabelled:
        print(f"{unlabelled} case folder(s) without {SEGMENTATION} (test cases) left out of training and scoring")
    if not cases:
        raise UserError(f"no case folder in {dataset_path} holds both {IMAGING} and {SEGMENTATION}")
    return cases


def split_pairs(cfg, split: str) -> list:
    return fold_pairs(cfg, labelled_cases(dataset_path_of(cfg)), split)


case_split = raw_case_split(labelled_cases)


def describe(cfg) -> dict:
    """The number of folds of a splits_final.json in the data folder (nnU-Net's format), where there is one."""
    dataset_path_of(cfg)
    return fold_values(cfg)


def prediction_inputs(paths) -> List[str]:
    """The imaging files of KiTS19's data folder (every case folder), of case folders, or files given as such."""
    def imaging_files(path):
        folders = [path] if _CASE.match(os.path.basename(os.path.normpath(path))) else case_folders(path)
        return [os.path.join(f, IMAGING) for f in folders if os.path.isfile(os.path.join(f, IMAGING))]

    return gather_nifti_files(paths, imaging_files, f"case_XXXXX/{IMAGING}")


def output_name(volume_path: str) -> str:
    """prediction_XXXXX.nii.gz for case_XXXXX/imaging.nii.gz (KiTS19's submission name); prediction_<stem>.nii.gz
    for a file elsewhere."""
    match = _CASE.match(os.path.basename(os.path.dirname(os.path.abspath(volume_path))))
    return f"prediction_{match.group(1)}.nii.gz" if match else f"prediction_{nifti_stem(volume_path)}.nii.gz"
