"""The table of data-set kinds (DATASET.KIND, chosen with the config group `data=`).

A kind owns how its image/label pairs are found, what its predictions are named, whether its labels
nest (so the top classes may be merged) and whether it is scored per volume on each volume's own
grid (3D) or per image (2D). Its class names, scoring regions and normalisation are the keys its
configs/data/<kind>.yaml sets. Adding a kind: a module beside this one, a row in KINDS, a yaml.
"""
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from omegaconf import OmegaConf

from data_sets import images, lits
from data_sets.labels import (Regions, check_class_names, check_lesion_region, lesion_region, network_classes,
                             predicted_class_names, region_table, scoring_regions)
from utils.choices import choose


class DatasetKind(NamedTuple):
    volumetric: bool      # scored per volume on its own grid (3D scans), trained on prepared slices; False: 2D
                          # pictures read as they come (split_pairs), resized at load, scored per image
    nested_labels: bool   # each label lies inside the one below (tumour in liver): OUTPUT.CLASSES may merge the top
    split_pairs: Optional[Callable]         # (cfg, 'train' | 'val') -> [(case id, image path, label path)]
    prediction_inputs: Optional[Callable]   # a file, folder or list of them -> the image files to predict
    output_name: Optional[Callable]         # an input file's path -> the file name of its predicted labels


KINDS = {
    "lits": DatasetKind(volumetric=True, nested_labels=True, split_pairs=lits.split_pairs,
                        prediction_inputs=lits.prediction_inputs, output_name=lits.output_name),
    # the user's picture folders as they come: read and resized at load by the generators, scored per image
    "images": DatasetKind(volumetric=False, nested_labels=False, split_pairs=images.split_pairs,
                          prediction_inputs=images.prediction_inputs, output_name=images.output_name),
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
    names = check_class_names(OmegaConf.to_container(cfg.DATASET.CLASSES) if OmegaConf.is_config(cfg.DATASET.CLASSES)
                              else cfg.DATASET.CLASSES)
    classes = network_classes(names, cfg.OUTPUT.CLASSES, dataset_kind(cfg).nested_labels)
    configured = OmegaConf.to_container(cfg.DATASET.REGIONS) if OmegaConf.is_config(cfg.DATASET.REGIONS) \
        else cfg.DATASET.REGIONS
    all_regions = scoring_regions(names, configured, len(names))
    check_lesion_region(all_regions, cfg.DATASET.LESION_REGION)
    regions = scoring_regions(names, configured, classes)
    return ClassSetup(tuple(names), classes, regions, lesion_region(regions, cfg.DATASET.LESION_REGION))


def region_names(setup: ClassSetup) -> Sequence[str]:
    return list(setup.regions)
