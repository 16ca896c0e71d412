"""Synthetic LiTS data, NIfTI -> PNG preparation, and the prepared-data check."""
import os
import shutil

import nibabel as nib
import numpy as np
import pytest

from data_sets.synthetic.ct import make_synthetic_splits, make_synthetic_volume, write_volume
from data_sets.preparation import prepare_checked_dataset, prepare_dataset
from data_sets.verification import verify_dataset, verify_split
from tests.helpers import run_main, tiny_config
from utils.errors import UserError
from utils.files import list_files
from data_sets.image_files import read_image, read_mask
from data_sets.slice_names import parse_slice_name
from volumes.nifti import find_volume_pairs
from volumes.slices import window_and_scale


def raw_config(work_dir, raw_root, *overrides):
    """A tiny config reading raw volumes from raw_root/{train,val} and writing under work_dir."""
    return tiny_config(work_dir, f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw_root}/train",
                       f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_root}/val", *overrides)


def leftovers(root):
    """Hidden temporary folders or files anywhere under root."""
    found = []
    for _, dirs, files in os.walk(root):
        found += [n for n in dirs + files if n.startswith((".partial-", ".tmp-"))]
    return found


# --- synthetic data -------------------------------------------------------------------------------

def test_synthetic_volume_has_liver_with_tumours_inside_and_empty_end_slices():
    hu, labels = make_synthetic_volume(size=64, slices=16, seed=3)
    assert hu.shape == labels.shape == (64, 64, 16)
    assert hu.dtype == np.float32 and labels.dtype == np.uint8
    assert set(np.unique(labels)) == {0, 1, 2}
    # every in-plane neighbour of a tumour voxel is liver or tumour: tumours sit inside the liver
    tumour = labels == 2
    for axis in (0, 1):
        for shift in (-1, 1):
            assert (labels[np.roll(tumour, shift, axis=axis)] > 0).all()
    has_liver = labels.any(axis=(0, 1))
    assert not has_liver[0] and not has_liver[-1] and has_liver.sum() >= 4
    assert hu[labels == 1].mean() > hu[labels == 2].mean() + 30 > 30
    assert hu.min() < -900


def test_synthetic_data_is_deterministic_for_a_seed():
    first = make_synthetic_volume(32, 8, seed=7)
    np.testing.assert_array_equal(first[0], make_synthetic_volume(32, 8, seed=7)[0])
    np.testing.assert_array_equal(first[1], make_synthetic_volume(32, 8, seed=7)[1])
    assert not np.array_equal(first[1], make_synthetic_volume(32, 8, seed=8)[1])


def test_synthetic_splits_layout_and_compression(tmp_path, raw_lits):
    assert sorted(os.listdir(raw_lits / "train")) == sorted(
        [f"volume-{i}.nii" for i in range(3)] + [f"segmentation-{i}.nii" for i in range(3)])
    assert [p[0] for p in find_volume_pairs(str(raw_lits / "val"))] == [3, 4]
    image = nib.load(raw_lits / "val" / "volume-3.nii")
    assert image.shape == (64, 64, 16) and np.allclose(np.diag(image.affine), [0.8, 0.8, 2.5, 1])
    assert image.get_data_dtype() == np.float32
    assert nib.load(raw_lits / "val" / "segmentation-3.nii").get_data_dtype() == np.uint8
    make_synthetic_splits(str(tmp_path), train=1, val=1, size=64, slices=16, seed=0, compress=True)
    pairs = find_volume_pairs(str(tmp_path / "val"))
    assert pairs == [(1, str(tmp_path / "val" / "volume-1.nii.gz"), str(tmp_path / "val" / "segmentation-1.nii.gz"))]
    # volume N comes from (seed, N) alone: the same volume whatever the split sizes
    np.testing.assert_array_equal(nib.load(pairs[0][2]).get_fdata(),
                                  nib.load(raw_lits / "train" / "segmentation-1.nii").get_fdata())


# --- preprocessing --------------------------------------------------------------------------------

def test_window_and_scale_maps_the_window_onto_0_255():
    out = window_and_scale(np.array([-1000.0, -200.0, 25.0, 250.0, 3000.0]), -200, 250)
    assert out.dtype == np.uint8
    assert out[0] == 0 and out[1] == 0 and out[3] == 255 and out[4] == 255
    assert out[2] in (127, 128)


def write_both_splits(raw_root, hu):
    """The same volume-0 (all liver) as raw_root/train and raw_root/val."""
    for split in ("train", "val"):
        write_volume(str(raw_root / split), 0, hu, np.ones(hu.shape, dtype=np.uint8))


def test_three_slice_images_stack_previous_current_next_with_clamped_edges(tmp_path):
    # slice k holds -200 + 50 k HU, so each slice has its own grey; rows differ a little to catch transposes
    hu = (-200.0 + 50.0 * np.arange(5) + np.linspace(0, 1, 24)[:, None, None]) * np.ones((24, 20, 5))
    write_both_splits(tmp_path / "raw", hu.astype(np.float32))
    cfg = raw_config(tmp_path, tmp_path / "raw", "INPUT.CHANNELS=3", "DATA_PREPARATION.RESIZE=False")
    prepare_dataset(cfg)
    grey = [window_and_scale(hu[:, :, k], -200, 250) for k in range(hu.shape[2])]
    for index, expected in ((0, (0, 0, 1)), (2, (1, 2, 3)), (4, (3, 4, 4))):
        image = read_image(os.path.join(cfg.DATASET.TRAIN.IMAGES_PATH, f"image_0_{index:04d}.png"), 3)
        assert image.shape == (24, 20, 3)
        for channel, source in enumerate(expected):
            np.testing.assert_array_equal(image[..., channel], grey[source])


def test_single_slice_images_keep_orientation_and_resize_to_height_by_width(tmp_path):
    # HU rise from the top row to the bottom row and are equal along each row
    hu = np.linspace(-200.0, 250.0, 48)[:, None, None] * np.ones((48, 40, 4))
    write_both_splits(tmp_path / "raw", hu.astype(np.float32))
    cfg = raw_config(tmp_path, tmp_path / "raw", "INPUT.CHANNELS=1", "INPUT.HEIGHT=32", "INPUT.WIDTH=64")
    prepare_dataset(cfg)
    image = read_image(os.path.join(cfg.DATASET.VAL.IMAGES_PATH, "image_0_0003.png"), 1)[..., 0]
    mask = read_mask(os.path.join(cfg.DATASET.VAL.MASK_PATH, "mask_0_0003.png"))
    assert image.shape == mask.shape == (32, 64)
    assert (image == image[:, :1]).all()
    assert image[0, 0] < 10 and image[-1, 0] > 245 and (np.diff(image[:, 0].astype(int)) >= 0).all()
    assert set(np.unique(mask)) == {1}


def test_train_skips_slices_without_liver_and_val_keeps_all(prepared_workdir, raw_lits):
    cfg = tiny_config(prepared_workdir)
    liver_slices = {}
    for volume_id in range(3):
        labels = nib.load(raw_lits / "train" / f"segmentation-{volume_id}.nii").get_fdata()
        liver_slices[volume_id] = {k for k in range(labels.shape[2]) if labels[:, :, k].any()}
    train_names = [parse_slice_name(n) for n in list_files(cfg.DATASET.TRAIN.IMAGES_PATH)]
    assert {(n.volume, n.slice) for n in train_names} == {(v, k) for v, ks in liver_slices.items() for k in ks}
    assert len(train_names) < 3 * 16
    val_names = [parse_slice_name(n) for n in list_files(cfg.DATASET.VAL.MASK_PATH)]
    assert sorted((n.prefix, n.volume, n.slice) for n in val_names) == [
        ("mask", v, k) for v in (3, 4) for k in range(16)]


def test_prepared_masks_hold_raw_labels_and_match_the_segmentation(prepared_workdir, raw_lits):
    cfg = tiny_config(prepared_workdir)
    labels = nib.load(raw_lits / "val" / "segmentation-4.nii").get_fdata().astype(np.uint8)
    rebuilt = np.stack([read_mask(os.path.join(cfg.DATASET.VAL.MASK_PATH, f"mask_4_{k:04d}.png"))
                        for k in range(16)], axis=-1)
    np.testing.assert_array_equal(rebuilt, labels)    # 64x64 in and out: no resampling, no rotation
    assert set(np.unique(rebuilt)) == {0, 1, 2}
    assert leftovers(prepared_workdir) == []


def test_a_volume_in_both_the_train_and_the_val_folder_is_flagged(tmp_path, capsys):
    make_synthetic_splits(str(tmp_path / "raw"), train=1, val=1, size=32, slices=8, seed=1)
    prepare_dataset(raw_config(tmp_path, tmp_path / "raw"))
    assert "both the train and the val" not in capsys.readouterr().err
    shutil.copy(tmp_path / "raw" / "val" / "volume-1.nii", tmp_path / "raw" / "train")
    shutil.copy(tmp_path / "raw" / "val" / "segmentation-1.nii", tmp_path / "raw" / "train")
    prepare_dataset(raw_config(tmp_path, tmp_path / "raw"))
    assert ("warning: volume(s) 1 are in both the train and the val scans directories: validation would score "
            "volumes the model trained on") in capsys.readouterr().err.splitlines()


def test_rerun_replaces_a_volumes_old_slices(tmp_path):
    make_synthetic_splits(str(tmp_path / "raw"), train=1, val=1, size=32, slices=8, seed=1)
    cfg = raw_config(tmp_path, tmp_path / "raw")
    first = prepare_dataset(cfg)
    assert first["val"] == 8
    cfg = raw_config(tmp_path, tmp_path / "raw", "DATA_PREPARATION.SLICE_STRIDE=2")
    assert prepare_dataset(cfg)["val"] == 4
    assert [parse_slice_name(n).slice for n in list_files(cfg.DATASET.VAL.IMAGES_PATH)] == [0, 2, 4, 6]
    assert [parse_slice_name(n).slice for n in list_files(cfg.DATASET.VAL.MASK_PATH)] == [0, 2, 4, 6]


def test_corrupt_and_mismatched_volumes_are_reported_and_skipped(tmp_path, capsys):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=3, val=1, size=32, slices=8, seed=2)
    truncated = raw / "train" / "volume-1.nii"
    truncated.write_bytes(truncated.read_bytes()[:5000])
    hu, labels = make_synthetic_volume(32, 8, seed=9)
    write_volume(str(raw / "train"), 2, hu, labels[:, :, :6])
    cfg = raw_config(tmp_path, raw)
    counts = prepare_dataset(cfg)
    assert counts["skipped"] == ["volume-1.nii", "volume-2.nii"]
    err = capsys.readouterr().err
    assert "volume-1.nii" in err and "volume-2.nii" in err and "differ" in err
    assert {parse_slice_name(n).volume for n in list_files(cfg.DATASET.TRAIN.IMAGES_PATH)} == {0}
    assert {parse_slice_name(n).volume for n in list_files(cfg.DATASET.TRAIN.MASK_PATH)} == {0}
    assert counts["train"] == len(list_files(cfg.DATASET.TRAIN.IMAGES_PATH)) > 0
    assert leftovers(tmp_path) == []


def write_pair(directory, volume_id, hu, labels):
    """A LiTS pair with the arrays as given (no casting: float masks stay float)."""
    os.makedirs(directory, exist_ok=True)
    nib.save(nib.Nifti1Image(hu, np.eye(4)), os.path.join(directory, f"volume-{volume_id}.nii"))
    nib.save(nib.Nifti1Image(labels, np.eye(4)), os.path.join(directory, f"segmentation-{volume_id}.nii"))


@pytest.mark.parametrize("hu_change,labels_change,message", [
    (None, lambda m: m.astype(np.float32) * 0.5, "segmentation-1.nii holds non-integer labels (e.g. 0.5)"),
    (None, lambda m: m.astype(np.int16) - 1, "segmentation-1.nii holds labels -1; DATASET.CLASSES has 3 classes (labels 0..2)"),
    (None, lambda m: np.where(m == 2, 7, m).astype(np.int16), "segmentation-1.nii holds labels 7; DATASET.CLASSES has 3 classes (labels 0..2)"),
    (lambda h: np.where(h > 50, np.nan, h).astype(np.float32), None, "volume-1.nii holds NaN or infinite values"),
    (lambda h: np.full_like(h, -1024.0), None, "volume-1.nii is constant (-1024 everywhere)"),
])
def test_bad_data_is_skipped_with_one_line_naming_the_file_and_the_values(tmp_path, capsys, hu_change, labels_change,
                                                                          message):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=2, val=1, size=32, slices=8, seed=4)
    hu, labels = make_synthetic_volume(32, 8, seed=[4, 1])
    write_pair(str(raw / "train"), 1, hu_change(hu) if hu_change else hu,
               labels_change(labels) if labels_change else labels)
    counts = prepare_dataset(raw_config(tmp_path, raw))
    assert counts["skipped"] == ["volume-1.nii"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and message in warnings[0], warnings


def test_prepared_folders_mirror_the_latest_run_and_counts_match_the_disk(tmp_path, capsys):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=3, val=1, size=32, slices=8, seed=5)
    cfg = raw_config(tmp_path, raw)
    prepare_dataset(cfg)
    assert {parse_slice_name(n).volume for n in list_files(cfg.DATASET.TRAIN.IMAGES_PATH)} == {0, 1, 2}
    os.remove(raw / "train" / "volume-2.nii")                       # removed: its segmentation stays behind
    corrupt = raw / "train" / "volume-1.nii"
    corrupt.write_bytes(corrupt.read_bytes()[:3000])                # failing on the re-run
    counts = prepare_dataset(cfg)
    err = capsys.readouterr().err
    assert "warning: segmentation-2.nii has no volume-2.nii(.gz)" in err
    for directory in (cfg.DATASET.TRAIN.IMAGES_PATH, cfg.DATASET.TRAIN.MASK_PATH):
        assert {parse_slice_name(n).volume for n in list_files(directory)} == {0}
        assert len(list_files(directory)) == counts["train"]


def test_split_without_any_readable_volume_is_an_error(tmp_path):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=1, val=1, size=32, slices=8, seed=2)
    (raw / "val" / "segmentation-1.nii").write_bytes(b"")
    with pytest.raises(UserError, match="no val volume could be prepared"):
        prepare_dataset(raw_config(tmp_path, raw))
    assert leftovers(tmp_path) == []


def test_an_unwritable_processed_folder_is_refused_before_any_volume_is_read(tmp_path, capsys):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=1, val=1, size=32, slices=8, seed=2)
    (tmp_path / "a_file").write_bytes(b"")
    with pytest.raises(UserError, match=f"^DATASET.TRAIN.IMAGES_PATH cannot be created at {tmp_path}/a_file/train/images: "
                                        f"{tmp_path}/a_file is a file"):
        prepare_checked_dataset(raw_config(tmp_path, raw, f"DATA_PREPARATION.PROCESSED_DATA_PATH={tmp_path}/a_file"))
    assert "skipped" not in capsys.readouterr().err     # no volume was tried


def test_raw_folder_errors_name_the_problem(tmp_path, capsys):
    with pytest.raises(UserError, match="not found"):
        find_volume_pairs(str(tmp_path / "missing"))
    with pytest.raises(UserError, match="no volume-N.nii"):
        find_volume_pairs(str(tmp_path))
    hu, labels = make_synthetic_volume(16, 8)
    for volume_id in (10, 2, 7):
        write_volume(str(tmp_path), volume_id, hu, labels)
    assert [pair[0] for pair in find_volume_pairs(str(tmp_path))] == [2, 7, 10]
    os.remove(tmp_path / "segmentation-10.nii")
    os.remove(tmp_path / "volume-7.nii")
    capsys.readouterr()
    assert [pair[0] for pair in find_volume_pairs(str(tmp_path))] == [2]
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [f"warning: segmentation-7.nii has no volume-7.nii(.gz) in {tmp_path}; skipped",
                        f"warning: volume-10.nii has no segmentation-10.nii(.gz) in {tmp_path}; skipped"]
    write_volume(str(tmp_path), 2, hu, labels, compress=True)
    with pytest.raises(UserError, match="volume-2.nii and volume-2.nii.gz are both in"):
        find_volume_pairs(str(tmp_path))


# --- command lines --------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_make_prepare_and_verify(tmp_path):
    # the synthetic data goes where the same config reads it (DATA_PREPARATION.SCANS_*_DATA_PATH under WORK_DIR)
    make = ["data_preparation/make_synthetic_data.py", f"WORK_DIR={tmp_path}", "SYNTHETIC.TRAIN=2", "SYNTHETIC.VAL=1",
            "SYNTHETIC.SIZE=32", "SYNTHETIC.SLICES=8", "SYNTHETIC.SEED=4"]
    made = run_main(*make)   # each script in a fresh Python: test_cli_errors.py, test_synthetic_data.py
    assert made.returncode == 0, made.stderr
    assert f"2 files -> {tmp_path}/data/raw/val (DATA_PREPARATION.SCANS_VAL_DATA_PATH)" in made.stdout
    prepared = run_main("data_preparation/preprocess_data.py", f"WORK_DIR={tmp_path}", "INPUT.HEIGHT=64",
                        "INPUT.WIDTH=64", "INPUT.CHANNELS=1", "DATA_PREPARATION.WORKERS=2")
    assert prepared.returncode == 0, prepared.stderr
    assert "val: 8 slices from 1 volumes" in prepared.stdout
    assert len(list_files(tmp_path / "data" / "processed" / "val" / "images")) == 8
    verified = run_main("data_preparation/verify_data.py", f"WORK_DIR={tmp_path}", "INPUT.HEIGHT=64",
                        "INPUT.WIDTH=64", "INPUT.CHANNELS=1", "VERIFY.SAMPLES=2")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert os.path.isfile(tmp_path / "results" / "verify_data.png")
    os.remove(tmp_path / "data" / "processed" / "val" / "mask" / "mask_2_0003.png")
    broken = run_main("data_preparation/verify_data.py", f"WORK_DIR={tmp_path}", "INPUT.HEIGHT=64",
                      "INPUT.WIDTH=64", "INPUT.CHANNELS=1", "VERIFY.SAMPLES=0")
    assert broken.returncode == 2 and "image image_2_0003.png has no mask" in broken.stdout
    assert [line for line in broken.stderr.splitlines() if line.startswith("error:")] == [
        "error: 1 problem(s) in the prepared data (train: 0, val: 1); see the list above"]
    again = run_main(*make)   # the user's files are never replaced unless asked
    assert again.returncode == 2 and [line for line in again.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path}/data/raw/train/volume-0.nii exists already (and 5 more of the 6 files to write): nothing "
        "was written; SYNTHETIC.OVERWRITE=True replaces them, or set DATA_PREPARATION.SCANS_TRAIN_DATA_PATH to "
        "another folder"]


@pytest.mark.slow
def test_cli_missing_raw_folder_gives_one_error_line(tmp_path):
    result = run_main("data_preparation/preprocess_data.py", f"WORK_DIR={tmp_path}", "INPUT.HEIGHT=64",
                      "INPUT.WIDTH=64")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "SCANS_TRAIN_DATA_PATH" in errors[0] and "not found" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "data")


# --- verification ---------------------------------------------------------------------------------

def test_verify_finds_no_problem_in_prepared_data(tmp_path, prepared_workdir):
    cfg = tiny_config(tmp_path, f"DATA_PREPARATION.PROCESSED_DATA_PATH={prepared_workdir}/data/processed", "VERIFY.SAMPLES=2")
    result = verify_dataset(cfg)
    assert result["train"]["problems"] == [] and result["val"]["problems"] == []
    assert result["val"]["pairs"] == 32 and result["train"]["pairs"] > 0
    assert result["figure"] == str(tmp_path / "results" / "verify_data.png") and os.path.isfile(result["figure"])


def test_verify_flags_missing_mask_orphan_mask_and_wrong_size(tmp_path, prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    images, masks = tmp_path / "images", tmp_path / "mask"
    shutil.copytree(cfg.DATASET.VAL.IMAGES_PATH, images)
    shutil.copytree(cfg.DATASET.VAL.MASK_PATH, masks)
    os.remove(masks / "mask_3_0005.png")
    os.remove(images / "image_4_0002.png")
    problems = verify_split(str(images), str(masks), cfg)
    assert problems == ["image image_3_0005.png has no mask mask_3_0005.png",
                        "mask mask_4_0002.png has no image image_4_0002.png"]
    wrong = verify_split(str(images), str(masks), tiny_config(prepared_workdir, "INPUT.CHANNELS=1"))
    assert len(wrong) == 2 + 30 and all("3 channels, INPUT.CHANNELS is 1" in p for p in wrong[2:])
    assert verify_split(str(tmp_path / "nope"), str(masks), cfg) == [f"images directory not found: {tmp_path / 'nope'}"]
