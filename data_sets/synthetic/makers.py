"""Which synthetic maker writes which data set kind (MAKERS, keyed by DATASET.KIND), and the one checked write.

A row names the config keys of the folders its kind reads, in the order its two functions take them:
`files` lists every file the maker will write and `write` writes them. The list comes first, so a file
that exists already is refused before anything is written: nothing the user gave is replaced unless
asked. Adding a kind: its maker in this package and a row here.
"""
import os
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from data_sets.synthetic import ct, layouts, photos
from utils.errors import UserError


class Synthetic(NamedTuple):
    """What to write, as plain values (data_preparation/make_synthetic_data.py reads them from the config, whose
    SYNTHETIC section holds the defaults); the kind-specific options default to off."""
    train: int                 # training volumes or photos (nnunet, kits19: train + val labelled cases)
    val: int                   # validation volumes or photos
    test: int                  # nnunet, kits19: unlabelled test cases
    size: int                  # CT kinds: slice height and width
    slices: int                # CT kinds: slices per volume
    seed: int                  # volume / photo N is drawn from (seed, N)
    compress: bool = False     # lits: .nii.gz files
    photo_size: Optional[Tuple[int, int]] = None   # images: (height, width) of every photo; None: each its own
    grayscale: bool = False    # images: single-channel photos
    image_format: str = "jpg"  # images: photos.IMAGE_FORMATS
    classes: int = 4           # images: classes with background (photos.MAX_CLASSES at most)
    binary: bool = False       # images: 0/255 masks
    mask_suffix: str = ""      # images: masks are photo_N<mask_suffix>.png
    splits: bool = False       # nnunet: also a 2-fold splits_final.json


class Maker(NamedTuple):
    folders: Tuple[str, ...]   # config keys of the folders it writes into; each must be set
    files: Callable            # (Synthetic, *folder paths) -> every file `write` writes
    write: Callable            # (Synthetic, *folder paths): writes those files
    then: str                  # the script that reads the data next
    optional_folders: Tuple[str, ...] = ()   # more folders, after `folders`: all set, or all null (None)


def _lits_splits(s: Synthetic, train_dir: str, val_dir: str):
    return (train_dir, range(s.train)), (val_dir, range(s.train, s.train + s.val))


def _photo_splits(s: Synthetic, train_images: str, train_masks: str, val_images=None, val_masks=None):
    """Without validation folders every photo goes to the training ones (DATASET.VAL_FRACTION holds some out)."""
    if val_images is None:
        return [(train_images, train_masks, range(s.train + s.val))]
    return [(train_images, train_masks, range(s.train)), (val_images, val_masks, range(s.train, s.train + s.val))]


def _write_photos(s: Synthetic, *folders) -> None:
    photos.write_photos(_photo_splits(s, *folders), s.classes, s.seed, s.photo_size, s.grayscale, s.binary,
                        s.image_format, s.mask_suffix)


MAKERS = {
    "lits": Maker(
        folders=("DATA_PREPARATION.SCANS_TRAIN_DATA_PATH", "DATA_PREPARATION.SCANS_VAL_DATA_PATH"),
        files=lambda s, *dirs: [p for d, ids in _lits_splits(s, *dirs) for p in ct.split_paths(d, ids, s.compress)],
        write=lambda s, *dirs: [ct.write_split(d, ids, s.size, s.slices, s.seed, s.compress)
                                for d, ids in _lits_splits(s, *dirs)],
        then="data_preparation/preprocess_data.py"),
    "images": Maker(
        folders=("DATASET.TRAIN.IMAGES_PATH", "DATASET.TRAIN.MASK_PATH"),
        optional_folders=("DATASET.VAL.IMAGES_PATH", "DATASET.VAL.MASK_PATH"),
        files=lambda s, *dirs: photos.photo_paths(_photo_splits(s, *dirs), s.image_format, s.mask_suffix),
        write=_write_photos,
        then="train.py"),
    "nnunet": Maker(
        folders=("DATA_PREPARATION.DATASET_PATH",),
        files=lambda s, out: layouts.nnunet_paths(out, s.train + s.val, s.test, s.splits),
        write=lambda s, out: layouts.make_nnunet(out, s.train + s.val, s.test, s.size, s.slices, s.seed, s.splits),
        then="data_preparation/preprocess_data.py"),
    "kits19": Maker(
        folders=("DATA_PREPARATION.DATASET_PATH",),
        files=lambda s, out: layouts.kits19_paths(out, s.train + s.val, s.test),
        write=lambda s, out: layouts.make_kits19(out, s.train + s.val, s.test, s.size, s.slices, s.seed),
        then="data_preparation/preprocess_data.py"),
}


def maker(kind: str) -> Maker:
    """The row of a data set kind; a kind without a maker is one line naming those that have one."""
    if kind not in MAKERS:
        raise UserError(f"DATASET.KIND={kind} has no synthetic maker; there is one for {', '.join(MAKERS)}")
    return MAKERS[kind]


def _folder_paths(kind: str, row: Maker, folders: Dict[str, Optional[str]]) -> List[Optional[str]]:
    """The row's folder paths in its order; a required one unset, or optional ones set by halves, is one line."""
    for key in row.folders:
        if not folders.get(key):
            raise UserError(f"{key} is not set: data={kind} writes its synthetic data there; set it to a folder")
    optional = [folders.get(key) or None for key in row.optional_folders]
    if any(optional) and not all(optional):
        unset = row.optional_folders[optional.index(None)]
        raise UserError(f"{unset} is not set while {', '.join(k for k in row.optional_folders if k != unset)} is: "
                        f"set both, or neither")
    return [folders[key] for key in row.folders] + optional


def _folder_key(path: str, folders: Dict[str, Optional[str]]) -> str:
    """The key of the (innermost) folder holding path."""
    holding = [(len(os.path.abspath(folder)), key) for key, folder in folders.items()
               if folder and os.path.abspath(path).startswith(os.path.join(os.path.abspath(folder), ""))]
    return max(holding)[1] if holding else ""


def write_synthetic(kind: str, settings: Synthetic, folders: Dict[str, Optional[str]],
                    overwrite: bool = False) -> Dict[str, List[str]]:
    """Write a synthetic data set of `kind` into `folders` ({config key: path}); returns {config key: files}.

    Without `overwrite` a file of the same name as one to write stops it (UserError) before any is written.
    """
    row = maker(kind)
    paths = _folder_paths(kind, row, folders)
    planned = row.files(settings, *paths)
    existing = [path for path in planned if os.path.lexists(path)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more of the {len(planned)} files to write)" if len(existing) > 1 else ""
        raise UserError(f"{existing[0]} exists already{more}: nothing was written; SYNTHETIC.OVERWRITE=True "
                        f"replaces them, or set {_folder_key(existing[0], folders)} to another folder")
    row.write(settings, *paths)
    written: Dict[str, List[str]] = {}
    for path in planned:
        written.setdefault(_folder_key(path, folders), []).append(path)
    return written
