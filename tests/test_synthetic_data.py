"""make_synthetic_data.py and data_sets/synthetic/makers.py: each kind's synthetic data goes where the config reads it."""
import os

import pytest

from data_sets.synthetic.configured import make_synthetic_data
from data_sets.kinds import dataset_kind, prepared_splits
from data_sets.synthetic.makers import MAKERS, Synthetic, maker, write_synthetic
from tests.helpers import run_cli, tiny_config
from utils.errors import UserError

SMALL = ["SYNTHETIC.TRAIN=2", "SYNTHETIC.VAL=1", "SYNTHETIC.TEST=1", "SYNTHETIC.SIZE=16", "SYNTHETIC.SLICES=8",
         "SYNTHETIC.PHOTO_SIZE=[32,48]"]
# Each kind's own folders under {tmp}: the overrides a user would give make_synthetic_data.py, then preprocess/train.
KIND_OVERRIDES = {
    "lits": [],
    "images": ["DATASET.TRAIN.IMAGES_PATH={tmp}/photos/images", "DATASET.TRAIN.MASK_PATH={tmp}/photos/masks",
               "DATASET.CLASSES=[background,red,green]"],
    "nnunet": ["DATA_PREPARATION.DATASET_PATH={tmp}/Dataset501_Phantom", "SYNTHETIC.SPLITS=True"],
    "kits19": ["DATA_PREPARATION.DATASET_PATH={tmp}/kits19/data", "DATASET.NUM_FOLDS=3"],   # 3 labelled cases
}


def kind_config(tmp_path, kind, *overrides):
    return tiny_config(tmp_path, f"data={kind}", *SMALL,
                       *(o.format(tmp=tmp_path) for o in KIND_OVERRIDES[kind]), *overrides)


def files_under(root):
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names)


def test_every_kind_has_a_maker_and_an_unknown_one_is_one_line():
    assert set(MAKERS) == {"lits", "images", "nnunet", "kits19"}
    with pytest.raises(UserError, match="^DATASET.KIND=coco has no synthetic maker; there is one for lits, images"):
        maker("coco")


@pytest.mark.parametrize("kind", sorted(KIND_OVERRIDES))
def test_each_kind_is_written_where_the_same_config_reads_it(tmp_path, kind, capsys):
    cfg = kind_config(tmp_path, kind)
    written = make_synthetic_data(cfg)
    files = sorted(path for paths in written.values() for path in paths)
    assert files == files_under(tmp_path)   # the list checked for existing files is what was written
    assert set(written) <= set(MAKERS[kind].folders + MAKERS[kind].optional_folders)
    pairs = [dataset_kind(cfg).split_pairs(cfg, split) for split in prepared_splits(cfg)]
    assert sum(map(len, pairs)) == 3   # TRAIN + VAL cases, read back by the kind's own reader (nnunet, kits19: folds)
    out = capsys.readouterr().out
    assert f"synthetic {kind} data (SYNTHETIC.SEED=0), {len(files)} files:" in out and "next: python " in out


def test_images_without_val_folders_all_go_to_train_and_follow_the_mask_settings(tmp_path):
    cfg = kind_config(tmp_path, "images", "DATASET.BINARY_MASKS=True", "DATASET.MASK_SUFFIX=_seg",
                      "SYNTHETIC.FORMAT=png", "SYNTHETIC.GRAYSCALE=True")
    written = make_synthetic_data(cfg)
    assert sorted(os.listdir(tmp_path / "photos" / "images")) == ["photo_0.png", "photo_1.png", "photo_2.png"]
    assert sorted(os.listdir(tmp_path / "photos" / "masks")) == ["photo_0_seg.png", "photo_1_seg.png", "photo_2_seg.png"]
    assert set(written) == {"DATASET.TRAIN.IMAGES_PATH", "DATASET.TRAIN.MASK_PATH"}
    import cv2
    mask = cv2.imread(str(tmp_path / "photos" / "masks" / "photo_0_seg.png"), cv2.IMREAD_UNCHANGED)
    photo = cv2.imread(str(tmp_path / "photos" / "images" / "photo_0.png"), cv2.IMREAD_UNCHANGED)
    assert set(mask.ravel()) == {0, 255} and photo.shape == (32, 48)


def test_an_existing_file_is_refused_before_anything_is_written(tmp_path):
    folders = {"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH": str(tmp_path / "train"),
               "DATA_PREPARATION.SCANS_VAL_DATA_PATH": str(tmp_path / "val")}
    os.makedirs(tmp_path / "val")
    (tmp_path / "val" / "volume-2.nii").write_text("the user's own")
    settings = Synthetic(train=2, val=1, test=0, size=16, slices=8, seed=0)
    with pytest.raises(UserError, match=r"/val/volume-2.nii exists already: nothing was written; SYNTHETIC.OVERWRITE"
                                        r"=True replaces them, or set DATA_PREPARATION.SCANS_VAL_DATA_PATH to"):
        write_synthetic("lits", settings, folders)
    assert not (tmp_path / "train").exists() and (tmp_path / "val" / "volume-2.nii").read_text() == "the user's own"
    write_synthetic("lits", settings, folders, overwrite=True)
    assert (tmp_path / "val" / "volume-2.nii").stat().st_size > 1000 and len(os.listdir(tmp_path / "train")) == 4


@pytest.mark.parametrize("kind,overrides,message", [
    ("lits", ["SYNTHETIC.SIZE=8"], "SYNTHETIC.SIZE must be 16 or more (a smaller phantom's liver"),
    ("kits19", ["SYNTHETIC.SLICES=4"], "SYNTHETIC.SLICES must be 8 or more"),
    ("lits", ["SYNTHETIC.TRAIN=0"], "SYNTHETIC.TRAIN must be a positive integer, got 0"),
    ("images", ["SYNTHETIC.PHOTO_SIZE=[16,64]"], "SYNTHETIC.PHOTO_SIZE must be 32 or more (pixels per side), got 16"),
    ("images", ["DATASET.CLASSES=[background,a,b,c,d]"],
     "DATASET.CLASSES names 5 classes, but the synthetic photos have at most 4: background, red ellipses"),
    ("images", ["DATASET.TRAIN.MASK_PATH=null"], "DATASET.TRAIN.MASK_PATH is not set: data=images writes its synthetic"),
    ("images", ["DATASET.VAL.IMAGES_PATH={tmp}/val"], "DATASET.VAL.MASK_PATH is not set while DATASET.VAL.IMAGES_PATH is"),
    ("nnunet", ["DATA_PREPARATION.DATASET_PATH=null"], "DATA_PREPARATION.DATASET_PATH is not set: data=nnunet"),
])
def test_bad_values_are_one_line_naming_the_key_and_write_nothing(tmp_path, kind, overrides, message):
    cfg = kind_config(tmp_path, kind, *(o.format(tmp=tmp_path) for o in overrides))
    with pytest.raises(UserError) as raised:
        make_synthetic_data(cfg)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert files_under(tmp_path) == []


@pytest.mark.slow
def test_cli_help_lists_the_section_and_the_docstrings_examples():
    result = run_cli("data_preparation/make_synthetic_data.py", "--help")
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC:" in result.stdout and "OVERWRITE: false" in result.stdout
    assert "  python data_preparation/make_synthetic_data.py data=kits19 DATA_PREPARATION.DATASET_PATH=" in result.stdout
