"""nnU-Net's raw layout (data=nnunet): a `DatasetNNN_Name` folder as nnU-Net v2 reads it.

    DatasetNNN_Name/dataset.json          labels, channel_names, file_ending (numTraining checked)
    DatasetNNN_Name/imagesTr/<case>_0000<file_ending>   (+ _0001 ... one file per channel)
    DatasetNNN_Name/labelsTr/<case><file_ending>
    DatasetNNN_Name/imagesTs/<case>_0000<file_ending>   (predict.py PREDICTION.VOLUMES=...; optional)
    DatasetNNN_Name/splits_final.json     (optional; nnU-Net's own, copied from nnUNet_preprocessed)

dataset.json's `labels` map names to values: plain labels (`"liver": 1`) name the classes in value
order; region labels (`"organ": [1, 2]`, nnU-Net's region-based training) make every named entry a
scoring region. Validation is a fold of the training cases, as nnU-Net's: splits_final.json where
present, else nnU-Net's seeded 5-fold split (sklearn KFold, shuffled, seed 12345, over the sorted case
names), reproduced here with NumPy (`nnunet_folds`). Written predictions are `<case><file_ending>`
on each image's grid: the names nnU-Net's evaluation (nnUNetv2_evaluate_folder) pairs with labelsTr.
"""
import json
import os
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
from omegaconf import OmegaConf

from utils.errors import UserError, warn
from data_sets.slice_names import CaseId, case_sort_key, parse_case_id
from volumes.nifti import NIFTI_EXTENSIONS, is_nifti, nifti_stem

DATASET_JSON = "dataset.json"
SPLITS_FILE = "splits_final.json"
NNUNET_SEED = 12345          # nnunetv2.utilities.crossval_split.generate_crossval_split's seed
_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})(?P<ending>\.nii\.gz|\.nii)$")


class Description(NamedTuple):
    """What dataset.json says, as this project's config values."""
    classes: List[str]                       # DATASET.CLASSES: a name per label value
    regions: List[Dict[str, List[int]]]      # DATASET.REGIONS: [] when dataset.json has no region labels
    channel_names: List[str]                 # DATASET.CHANNEL_NAMES: the input files' channels, in order
    file_ending: str


def dataset_path_of(cfg) -> str:
    path = OmegaConf.select(cfg, "DATA_PREPARATION.DATASET_PATH", default=None)
    if not path:
        raise UserError(f"DATA_PREPARATION.DATASET_PATH is not set: give the data set's folder "
                        f"(data={cfg.DATASET.KIND}; README 'Your own data')")
    if not os.path.isdir(path):
        raise UserError(f"DATA_PREPARATION.DATASET_PATH not found: {path}")
    return str(path)


def _label_values(name: str, value, where: str) -> List[int]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise UserError(f"{where}: labels.{name} must be a label value (0, 1, ...) or a list of them "
                        f"(a region), got {value!r}")
    return sorted(set(values))


def parse_labels(labels, where: str, class_order=None) -> Tuple[List[str], List[Dict[str, List[int]]]]:
    """dataset.json's `labels` as (class names by value, regions); one line naming the key when malformed.

    A value no plain label names takes the name of the region that `regions_class_order` (class_order)
    writes it for, as nnU-Net turns regions back into labels; else `label_<value>`.
    """
    if not isinstance(labels, dict) or not labels:
        raise UserError(f"{where}: 'labels' must map names to label values, e.g. "
                        f"{{\"background\": 0, \"liver\": 1}}, got {labels!r}")
    if all(isinstance(k, str) and k.isdigit() for k in labels) and all(isinstance(v, str) for v in labels.values()):
        raise UserError(f"{where}: 'labels' maps values to names ({labels}), the Medical Segmentation Decathlon / "
                        f"nnU-Net v1 format: convert the data set with nnUNetv2_convert_MSD_dataset first")
    if "ignore" in labels:
        raise UserError(f"{where}: labels.ignore (nnU-Net's ignore label for partial annotations) is not supported")
    if labels.get("background") != 0:
        raise UserError(f"{where}: labels.background must be 0, got {labels.get('background')!r}")
    entries = {str(name): _label_values(name, value, where) for name, value in labels.items()}
    plain = {}
    for name, value in labels.items():
        if not isinstance(value, list):
            if value in plain:
                raise UserError(f"{where}: labels.{plain[value]} and labels.{name} both have value {value}")
            plain[value] = str(name)
    used = sorted({v for values in entries.values() for v in values})
    if used != list(range(len(used))) or len(used) < 2:
        raise UserError(f"{where}: label values must run 0, 1, 2, ... without gaps (nnU-Net's rule) and include "
                        f"a foreground label, got {used}")
    has_regions = any(isinstance(value, list) for value in labels.values())
    foreground = [name for name in entries if name != "background"]
    if has_regions and class_order is not None:
        if (not isinstance(class_order, list) or len(class_order) != len(foreground)
                or any(isinstance(v, bool) or not isinstance(v, int) for v in class_order)):
            raise UserError(f"{where}: regions_class_order must list one label value per region "
                            f"({', '.join(foreground)}), got {class_order!r}")
        for value, name in zip(class_order, foreground):
            plain.setdefault(value, name)
    classes = [plain.get(value, f"label_{value}") for value in used]
    if len(set(classes)) != len(classes):
        raise UserError(f"{where}: labels name the classes {classes} ambiguously; give each label value its own name")
    regions = [{name: values} for name, values in entries.items() if name != "background"] if has_regions else []
    return classes, regions


def read_description(dataset_path: str) -> Description:
    """dataset.json of a DatasetNNN_Name folder, checked; a UserError names the file and the key."""
    where = os.path.join(dataset_path, DATASET_JSON)
    if not os.path.isfile(where):
        raise UserError(f"{where} not found: an nnU-Net data set folder holds dataset.json, imagesTr and labelsTr")
    try:
        with open(where) as handle:
            description = json.load(handle)
    except (OSError, ValueError) as err:
        raise UserError(f"{where} cannot be read as JSON: {' '.join(str(err).split())}") from None
    if not isinstance(description, dict):
        raise UserError(f"{where} must hold a JSON object with labels, channel_names and file_ending")
    for key in ("labels", "channel_names", "file_ending"):
        if key not in description:
            raise UserError(f"{where} has no '{key}' (nnU-Net v2's dataset.json holds labels, channel_names and "
                            f"file_ending)")
    classes, regions = parse_labels(description["labels"], where, description.get("regions_class_order"))
    channels = description["channel_names"]
    if not isinstance(channels, dict) or sorted(channels) != [str(i) for i in range(len(channels))] or not channels:
        raise UserError(f"{where}: 'channel_names' must map \"0\", \"1\", ... to names such as \"CT\" or \"T2\", "
                        f"got {channels!r}")
    ending = description["file_ending"]
    if ending not in NIFTI_EXTENSIONS:
        raise UserError(f"{where}: file_ending {ending!r} is not read here; images and labels must be NIfTI "
                        f"({' or '.join(NIFTI_EXTENSIONS)})")
    return Description(classes, regions, [str(channels[str(i)]) for i in range(len(channels))], ending)


def description_values(description: Description) -> Dict[str, object]:
    """The config keys dataset.json sets (preprocessing records them with the prepared slices)."""
    values = {"DATASET.CLASSES": description.classes, "DATASET.REGIONS": description.regions,
              "DATASET.CHANNEL_NAMES": description.channel_names}
    if len(description.channel_names) > 1:   # the files are the channels, one slice each
        values["DATA_PREPARATION.SLICES_PER_IMAGE"] = 1
    return values


def describe(cfg) -> Dict[str, object]:
    """dataset.json's classes, regions and channels, and splits_final.json's number of folds, as config values."""
    return {**description_values(read_description(dataset_path_of(cfg))), **fold_values(cfg)}


def training_cases(dataset_path: str, description: Description) -> List[Tuple[CaseId, tuple, str]]:
    """(case key, channel files, label file) of every imagesTr case with all its channels and its label.

    A case missing a channel file or its label is warned about and left out; no case at all is an error.
    """
    images, labels = os.path.join(dataset_path, "imagesTr"), os.path.join(dataset_path, "labelsTr")
    for folder in (images, labels):
        if not os.path.isdir(folder):
            raise UserError(f"{folder} not found: an nnU-Net data set folder holds imagesTr and labelsTr")
    ending, count = description.file_ending, len(description.channel_names)
    first = f"_0000{ending}"
    names = sorted(n[:-len(first)] for n in os.listdir(images) if n.endswith(first) and not n.startswith("."))
    if not names:
        raise UserError(f"{images} holds no <case>_0000{ending} files")
    cases = []
    for name in names:
        channels = tuple(os.path.join(images, f"{name}_{c:04d}{ending}") for c in range(count))
        missing = [os.path.basename(p) for p in channels if not os.path.isfile(p)]
        label = os.path.join(labels, f"{name}{ending}")
        if missing:
            warn(f"case {name} lacks {', '.join(missing)} in {images} (dataset.json lists {count} channels); skipped")
        elif not os.path.isfile(label):
            warn(f"case {name} has no label {name}{ending} in {labels}; skipped")
        else:
            cases.append((parse_case_id(name), channels, label))
    if not cases:
        raise UserError(f"no case of {images} has all its channel files and a label in {labels}")
    return sorted(cases, key=lambda case: case_sort_key(case[0]))


def nnunet_folds(case_ids: Sequence[CaseId], num_folds: int, seed: int = NNUNET_SEED) -> List[Set[CaseId]]:
    """The validation cases of each fold, as nnU-Net splits: KFold(num_folds, shuffle=True, random_state=seed)
    over the sorted case names (sklearn's KFold shuffles np.arange(n) with RandomState(seed), then deals
    consecutive runs of n // k, the first n % k of them one longer)."""
    ordered = sorted(case_ids, key=case_sort_key)
    if len(ordered) < num_folds:
        raise UserError(f"DATASET.NUM_FOLDS={num_folds} needs at least {num_folds} cases, found {len(ordered)}")
    indices = np.arange(len(ordered))
    np.random.RandomState(seed).shuffle(indices)
    sizes = [len(ordered) // num_folds + (1 if k < len(ordered) % num_folds else 0) for k in range(num_folds)]
    folds, start = [], 0
    for size in sizes:
        folds.append({ordered[i] for i in indices[start:start + size]})
        start += size
    return folds


def load_splits(path: str) -> list:
    """nnU-Net's splits_final.json: [{"train": [cases], "val": [cases]}, ...], one entry per fold, checked."""
    try:
        with open(path) as handle:
            splits = json.load(handle)
    except (OSError, ValueError) as err:
        raise UserError(f"{path} cannot be read as JSON: {' '.join(str(err).split())}") from None
    if not isinstance(splits, list) or not splits or not all(
            isinstance(s, dict) and isinstance(s.get("train"), list) and isinstance(s.get("val"), list) for s in splits):
        raise UserError(f"{path} must be a list of {{\"train\": [cases], \"val\": [cases]}}, one per fold "
                        f"(nnU-Net's splits_final.json)")
    return splits


def read_splits(path: str, case_ids: Sequence[CaseId]) -> List[Tuple[Set[CaseId], Set[CaseId]]]:
    """splits_final.json as (train, val) case sets; a case it names that is not among case_ids is one line."""
    known = set(case_ids)
    result = []
    for fold, split in enumerate(load_splits(path)):
        train, val = ({parse_case_id(str(c)) for c in split[key]} for key in ("train", "val"))
        unknown = sorted((train | val) - known, key=case_sort_key)
        if unknown:
            raise UserError(f"{path}: fold {fold} lists case(s) {', '.join(map(str, unknown[:5]))} that are not "
                            f"among the data set's labelled cases")
        result.append((train, val))
    return result


def splits_file(cfg) -> Optional[str]:
    """DATA_PREPARATION.DATASET_PATH/splits_final.json when there is one."""
    dataset_path = OmegaConf.select(cfg, "DATA_PREPARATION.DATASET_PATH", default=None)
    path = os.path.join(str(dataset_path), SPLITS_FILE) if dataset_path else None
    return path if path and os.path.isfile(path) else None


def fold_values(cfg) -> Dict[str, object]:
    """DATASET.NUM_FOLDS = the number of folds splits_final.json defines, where there is one."""
    path = splits_file(cfg)
    return {"DATASET.NUM_FOLDS": len(load_splits(path))} if path else {}


def split_cases(cfg, case_ids: Sequence[CaseId], fold: int, num_folds: int) -> Tuple[Set[CaseId], Set[CaseId]]:
    """(training cases, validation cases) of fold `fold` among case_ids: splits_final.json in
    DATA_PREPARATION.DATASET_PATH when there is one, else nnU-Net's seeded k-fold split."""
    splits_path = splits_file(cfg)
    if splits_path:
        splits = read_splits(splits_path, case_ids)
        if len(splits) != num_folds:
            raise UserError(f"{splits_path} defines {len(splits)} folds, DATASET.NUM_FOLDS is {num_folds}: "
                            f"set DATASET.NUM_FOLDS={len(splits)}")
        return splits[fold]
    val = nnunet_folds(case_ids, num_folds)[fold]
    return set(case_ids) - val, val


def raw_case_split(list_cases):
    """A kind's case_split for training: the folds of every labelled case of DATA_PREPARATION.DATASET_PATH (the
    list preprocessing and evaluate.py split), so a case that could not be prepared moves no other case's fold;
    the prepared cases' own ids when the raw data set is not at hand."""
    def case_split(cfg, case_ids: Sequence[CaseId], fold: int, num_folds: int):
        dataset_path = OmegaConf.select(cfg, "DATA_PREPARATION.DATASET_PATH", default=None)
        if dataset_path and os.path.isdir(str(dataset_path)):
            case_ids = [case[0] for case in list_cases(str(dataset_path))]
        return split_cases(cfg, case_ids, fold, num_folds)
    return case_split


def check_folds(cfg) -> Tuple[int, int]:
    num_folds, fold = cfg.DATASET.NUM_FOLDS, cfg.DATASET.FOLD
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise UserError(f"data={cfg.DATASET.KIND} validates on a fold of its training cases, as nnU-Net does: "
                        f"DATASET.NUM_FOLDS must be 2 or more (default 5), got {num_folds!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < num_folds:
        raise UserError(f"DATASET.FOLD must be 0..{num_folds - 1} (DATASET.NUM_FOLDS={num_folds}), got {fold!r}")
    return fold, num_folds


def fold_pairs(cfg, cases, split: str) -> list:
    """'train': every labelled case (preprocessing prepares them all; training holds out DATASET.FOLD from
    the slices); 'val': the cases of fold DATASET.FOLD (evaluate.py scores them)."""
    fold, num_folds = check_folds(cfg)
    if split == "train":
        return cases
    _, val = split_cases(cfg, [case[0] for case in cases], fold, num_folds)
    return [case for case in cases if case[0] in val]


def labelled_cases(dataset_path: str) -> List[Tuple[CaseId, tuple, str]]:
    return training_cases(dataset_path, read_description(dataset_path))


def split_pairs(cfg, split: str) -> list:
    return fold_pairs(cfg, labelled_cases(dataset_path_of(cfg)), split)


case_split = raw_case_split(labelled_cases)


def _channel_groups(names: Sequence[str], folder: str) -> Dict[str, Dict[int, str]]:
    groups: Dict[str, Dict[int, str]] = {}
    for name in names:
        match = _CHANNEL_FILE.match(os.path.basename(name))
        if match:
            groups.setdefault(match["case"] + match["ending"], {})[int(match["channel"])] = os.path.join(folder, name)
    return groups


def prediction_inputs(paths) -> List[tuple]:
    """Each case's channel files (`<case>_0000<ending>`, `_0001`...) from folders such as imagesTs, or from
    files: a `_0000` file brings its case's other channel files beside it."""
    if isinstance(paths, str):
        paths = [paths]
    cases = []
    for path in paths:
        if os.path.isdir(path):
            groups = _channel_groups(sorted(os.listdir(path)), path)
            if not groups:
                raise UserError(f"no <case>_0000.nii.gz (nnU-Net image) files in {path}")
        elif os.path.isfile(path):
            match = _CHANNEL_FILE.match(os.path.basename(path))
            if not match or not is_nifti(path):
                raise UserError(f"{path} is not an nnU-Net image file (<case>_0000.nii.gz)")
            folder = os.path.dirname(path)
            siblings = [n for n in os.listdir(folder or ".") if n.startswith(f"{match['case']}_")]
            groups = {k: v for k, v in _channel_groups(sorted(siblings), folder).items()
                      if k == match["case"] + match["ending"]}
        else:
            raise UserError(f"image {path} not found")
        for case, channels in sorted(groups.items()):
            if sorted(channels) != list(range(len(channels))):
                raise UserError(f"case {nifti_stem(case)} in {path} has channel files "
                                f"{', '.join(f'_{c:04d}' for c in sorted(channels))}; they must run _0000, _0001, ...")
            cases.append(tuple(channels[c] for c in range(len(channels))))
    return cases


def output_name(image) -> str:
    """`<case><ending>` for a case's channel files `<case>_0000<ending>`...: the name nnU-Net's evaluation reads."""
    first = image if isinstance(image, str) else image[0]
    match = _CHANNEL_FILE.match(os.path.basename(first))
    if match:
        return match["case"] + match["ending"]
    return os.path.basename(first)
