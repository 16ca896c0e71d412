"""The recipe of prepared slices: `manifest.json` beside each split's images, written by preprocess_data.py.

PNG slices do not say which HU window, size or slice stacking made them. The manifest does, so
train.py trains (and records in its run's config.yaml) the settings the slices were really made
with, and evaluate.py / predict.py window CTs the way the model learned. A manifest is written
`complete: false` before the first slice of a preparation is touched and `complete: true` once
the split is done: slices of an unfinished preparation are refused, not trained on.
"""
import datetime
import json
import os
from typing import Dict, Iterable, List, Optional, Set

from omegaconf import DictConfig, OmegaConf, open_dict

from data_sets.kinds import dataset_kind
from utils.errors import UserError
from utils.files import write_atomically
from volumes.slices import input_channels

MANIFEST_NAME = "manifest.json"
SCALING = ("HU clipped to [HU_WINDOW.MIN, HU_WINDOW.MAX], then onto 0..255 as DATA_PREPARATION.INTENSITY_SCALING says "
           "(uint8 PNG); masks: raw labels")
_ABSENT = object()


def recipe(cfg: DictConfig) -> Dict[str, object]:
    """Dotted config key -> value, for every setting that shapes the prepared pixels: HU window, slices per
    image, size, intensity scaling (the normalisation of the PNG values), slicing orientation, and the
    data set's kind and class names where the config has them."""
    prep = cfg.DATA_PREPARATION
    channel_names = OmegaConf.select(cfg, "DATASET.CHANNEL_NAMES", default=None) or ["CT"]
    channels = input_channels(len(channel_names), prep.SLICES_PER_IMAGE)
    values = {"DATA_PREPARATION.HU_WINDOW.MIN": prep.HU_WINDOW.MIN, "DATA_PREPARATION.HU_WINDOW.MAX": prep.HU_WINDOW.MAX,
              "DATA_PREPARATION.SLICES_PER_IMAGE": prep.SLICES_PER_IMAGE, "INPUT.CHANNELS": channels,
              "DATA_PREPARATION.RESIZE": prep.RESIZE}
    if prep.RESIZE:   # without resizing, each slice keeps its CT's size: nothing to record
        values.update({"INPUT.HEIGHT": prep.RESIZED_HEIGHT, "INPUT.WIDTH": prep.RESIZED_WIDTH})
    # what the data set is (data=nnunet: from its dataset.json), so train.py needs none of it retyped
    keys = ["DATA_PREPARATION.INTENSITY_SCALING", "DATA_PREPARATION.ORIENTATION", "DATASET.KIND", "DATASET.CLASSES",
            "DATASET.REGIONS", "DATASET.LESION_REGION", "DATASET.CHANNEL_NAMES", "DATA_PREPARATION.DATASET_PATH"]
    if dataset_kind(cfg).case_split is not None:   # validation is a fold of these slices: how many folds
        keys.append("DATASET.NUM_FOLDS")
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None or key == "DATASET.LESION_REGION":   # null too: no region scored lesion-wise
            values[key] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return values


def _files(source) -> List[str]:
    """The files of a source: a NIfTI path, a case's channel files (a plain tuple), or a DICOM series (anything
    with `.files`)."""
    if hasattr(source, "files"):
        return list(source.files)
    return list(source) if isinstance(source, tuple) else [source]


def _where(source) -> str:
    """A path for a NIfTI file; the folder of a DICOM series (never a header value: no patient data)."""
    files = _files(source)
    if isinstance(source, tuple) and not hasattr(source, "files"):
        return files[0]   # a case's first channel file
    return files[0] if len(files) == 1 and not hasattr(source, "files") else os.path.dirname(files[0])


def _size(source) -> int:
    return sum(os.path.getsize(path) for path in _files(source) if os.path.isfile(path))


def manifest_path(images_dir: str) -> str:
    return os.path.join(images_dir, MANIFEST_NAME)


def write_manifest(cfg: DictConfig, split: str, images_dir: str, masks_dir: str, complete: bool,
                   sources: Iterable[tuple] = (), slices: int = 0, skipped: Iterable[str] = ()) -> str:
    """manifest.json in images_dir, atomically; sources are (volume path, segmentation path) pairs."""
    payload = {
        "complete": complete, "split": split, "written_by": "data_preparation/preprocess_data.py",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "recipe": recipe(cfg), "scaling": SCALING,
        "images": os.path.abspath(images_dir), "masks": os.path.abspath(masks_dir), "slices": slices,
        "sources": [{"volume": _where(volume), "volume_bytes": _size(volume),
                     "segmentation": _where(segmentation), "segmentation_bytes": _size(segmentation)}
                    for volume, segmentation in sources],
        "skipped": list(skipped),
    }

    def write(temporary):
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2)

    return write_atomically(manifest_path(images_dir), write)


def read_manifest(images_dir: str) -> Optional[dict]:
    """The manifest of a prepared folder; None for slices prepared before manifests existed."""
    path = manifest_path(images_dir)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as handle:
            manifest = json.load(handle)
        if not isinstance(manifest.get("recipe"), dict):
            raise ValueError("no 'recipe' entry")
    except (OSError, ValueError) as err:
        raise UserError(f"{path} cannot be read ({' '.join(str(err).split())}): prepare the data again "
                        f"(python data_preparation/preprocess_data.py)") from None
    if not manifest.get("complete"):
        raise UserError(f"the slices in {images_dir} are from a preparation that did not finish ({path} says "
                        f"complete: false): run data_preparation/preprocess_data.py again")
    return manifest


def _value(cfg: DictConfig, key: str):
    value = OmegaConf.select(cfg, key, default=_ABSENT)
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _explicit(key: str, explicit: Set[str]) -> bool:
    """Whether the command line set key, a section above it, or a key it interpolates (INPUT.* for the slices)."""
    return any(key == k or key.startswith(k + ".") for k in explicit)


def adopt_recipe(cfg: DictConfig, folders: List[str], explicit: Set[str], trained_run: Optional[str] = None) -> dict:
    """Set cfg (in place) to the recipe the manifests in `folders` record; returns the recipe.

    A command-line override (`explicit` keys) that contradicts it is refused, and so is a resumed
    run (`trained_run`) that was trained with other settings: its weights expect those pixels.
    Folders without a manifest (slices prepared by an older version) are taken as they are.
    """
    found = [(folder, read_manifest(folder)) for folder in folders]
    found = [(folder, manifest) for folder, manifest in found if manifest is not None]
    if not found:
        return {}
    first_folder, adopted = found[0][0], dict(found[0][1]["recipe"])
    for folder, manifest in found[1:]:
        for key, value in manifest["recipe"].items():
            if key in adopted and adopted[key] != value:
                raise UserError(f"the slices in {first_folder} were prepared with {key}={adopted[key]}, those in "
                                f"{folder} with {key}={value}: prepare both splits in one run of "
                                f"data_preparation/preprocess_data.py")
    changes = {}
    for key, value in adopted.items():
        current = _value(cfg, key)
        if current is _ABSENT or current == value:
            continue
        where = manifest_path(first_folder)
        if _explicit(key, explicit):
            raise UserError(f"the prepared slices were made with {key}={value} ({where}), the command line asks "
                            f"for {current}: drop the override, or prepare the data again with it "
                            f"(python data_preparation/preprocess_data.py {key}={current})")
        if trained_run is not None:
            raise UserError(f"run {trained_run} was trained with {key}={current}, but the slices are now prepared "
                            f"with {value} ({where}): prepare them again with {key}={current}, or train a new run")
        changes[key] = value
    with open_dict(cfg):
        for key, value in changes.items():
            OmegaConf.update(cfg, key, value, merge=False)
    return adopted
