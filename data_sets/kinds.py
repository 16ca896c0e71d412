"""The table of data-set kinds (DATASET.KIND, chosen with the config group `data=`).

A kind owns how its image/label pairs are found, what its predictions are named, whether its labels
nest (so the top classes may be merged) and whether it is scored per volume on each volume's own
grid (3D) or per image (2D). Its class names, scoring regions and normalisation are the keys its
configs/data/<kind>.yaml sets. Adding a kind: a module beside this one, a row in KINDS, a yaml.
"""
from typing import Callable, List, NamedTuple, Optional, Set, Tuple

from omegaconf import OmegaConf, open_dict

from data_sets import images, kits19, lits, nnunet
from data_sets.labels import (Regions, check_class_names, check_lesion_region, lesion_region, network_classes,
                             predicted_class_names, scoring_regions)
from app.choices import choose
from utils.errors import UserError


class DatasetKind(NamedTuple):
    volumetric: bool      # scored per volume on its own grid (3D scans), trained on prepared slices; False: 2D
                          # pictures read as they come (split_pairs), resized at load, scored per image
    nested_labels: bool   # each label lies inside the one below (tumour in liver): OUTPUT.CLASSES may merge the top
    split_pairs: Optional[Callable]         # (cfg, 'train' | 'val') -> [(case id, image path, label path)]
    prediction_inputs: Optional[Callable]   # a file, folder or list of them -> the image files to predict
    output_name: Optional[Callable]         # an input file's path -> the file name of its predicted labels
    # cfg -> {config key: value} the data set's own description sets (nnU-Net's dataset.json: class names,
    # regions, channels); preprocessing applies and records them, evaluate.py checks the run against them
    describe: Optional[Callable] = None
    # (cfg, case ids, fold, num_folds) -> (training cases, validation cases): validation is a fold of the training
    # cases (DATASET.NUM_FOLDS >= 2), so preprocessing prepares the train split only; None: round-robin folds
    case_split: Optional[Callable] = None
    train_source: str = "DATA_PREPARATION.SCANS_TRAIN_DATA_PATH"   # the folder split_pairs(cfg, 'train') reads
    val_source: str = "DATA_PREPARATION.SCANS_VAL_DATA_PATH"       # ... and split_pairs(cfg, 'val')


KINDS = {
    "lits": DatasetKind(volumetric=True, nested_labels=True, split_pairs=lits.split_pairs,
                        prediction_inputs=lits.prediction_inputs, output_name=lits.output_name),
    # the user's picture folders as they come: read and resized at load by the generators, scored per image
    "images": DatasetKind(volumetric=False, nested_labels=False, split_pairs=images.split_pairs,
                          prediction_inputs=images.prediction_inputs, output_name=images.output_name),
    "nnunet": DatasetKind(volumetric=True, nested_labels=False, split_pairs=nnunet.split_pairs,
                          prediction_inputs=nnunet.prediction_inputs, output_name=nnunet.output_name,
                          describe=nnunet.describe, case_split=nnunet.case_split,
                          train_source="DATA_PREPARATION.DATASET_PATH", val_source="DATA_PREPARATION.DATASET_PATH"),
    "kits19": DatasetKind(volumetric=True, nested_labels=True, split_pairs=kits19.split_pairs,
                          prediction_inputs=kits19.prediction_inputs, output_name=kits19.output_name,
                          describe=kits19.describe, case_split=kits19.case_split,
                          train_source="DATA_PREPARATION.DATASET_PATH", val_source="DATA_PREPARATION.DATASET_PATH"),
}


def dataset_kind(cfg) -> DatasetKind:
    return choose("DATASET.KIND", cfg.DATASET.KIND)


class ClassSetup(NamedTuple):
    """What a data set's labels mean for one network, as plain values the library takes."""
    names: Tuple[str, ...]          # DATASET.CLASSES: every label value's name
    classes: int                    # OUTPUT.CLASSES: the network's outputs (the first `classes` names)
    regions: Regions                # scored structures -> labels the network can predict
    lesion_region: Optional[str]    # the region also scored lesion by lesion, if any

    @property
    def predicted_names(self) -> List[str]:
        return predicted_class_names(self.names, self.classes)

    @property
    def label_count(self) -> int:
        """How many label values a mask may hold (0..label_count-1)."""
        return len(self.names)


def class_setup(cfg) -> ClassSetup:
    """DATASET.CLASSES / REGIONS / LESION_REGION and OUTPUT.CLASSES, checked together; one line per problem."""
    dataset = cfg.DATASET
    return make_class_setup(dataset.KIND, dataset.CLASSES, cfg.OUTPUT.CLASSES, dataset.REGIONS, dataset.LESION_REGION)


def make_class_setup(kind: str, names, output_classes: int, configured_regions, lesion: Optional[str]) -> ClassSetup:
    """class_setup from the values themselves (lists or their config nodes), as config validation checks them."""
    names = check_class_names(_plain(names))
    configured_regions = _plain(configured_regions)
    classes = network_classes(names, output_classes, choose("DATASET.KIND", kind).nested_labels)
    all_regions = scoring_regions(names, configured_regions, len(names))
    check_lesion_region(all_regions, lesion)
    regions = scoring_regions(names, configured_regions, classes)
    return ClassSetup(tuple(names), classes, regions, lesion_region(regions, lesion))


def prepared_splits(cfg) -> Tuple[str, ...]:
    """The splits preprocessing prepares: train and val, or train only where validation is a fold of it."""
    return ("train",) if dataset_kind(cfg).case_split is not None else ("train", "val")


def described_values(cfg) -> dict:
    """{config key: value} from the data set's own description (nnU-Net's dataset.json); {} for other kinds."""
    describe = dataset_kind(cfg).describe
    return describe(cfg) if describe is not None else {}


def _plain(value):
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def apply_description(cfg, explicit: Set[str]) -> dict:
    """Set cfg (in place) to what the data set describes; a command-line value contradicting it is one line."""
    values = described_values(cfg)
    for key, value in values.items():
        if key in explicit and _plain(OmegaConf.select(cfg, key)) != value:
            raise UserError(f"{key}={_plain(OmegaConf.select(cfg, key))} on the command line contradicts the data "
                            f"set's own description ({value}): drop the override")
    with open_dict(cfg):
        for key, value in values.items():
            OmegaConf.update(cfg, key, value, merge=False)
    return values


def check_description(cfg, run_dir: str) -> None:
    """A run scored on a data set must have been trained on its classes and channels; else one line naming both."""
    for key, value in described_values(cfg).items():
        trained = _plain(OmegaConf.select(cfg, key, default=None))
        if trained != value:
            raise UserError(f"run {run_dir} was trained with {key}={trained}, but the data set in "
                            f"{cfg.DATA_PREPARATION.DATASET_PATH} describes {value}: evaluate a run trained on it")

