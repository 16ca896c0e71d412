"""Nothing lost (issue 17): one class of cause per section, each with the fault injected as it happens.

Inputs are never overwritten; a failed write (disk full, I/O error) is one `error:` line naming the
path and what is intact, deletes nothing and leaves no partial file under a final name; prepared
data carries its recipe; masks off their CT's grid are refused; runs can be moved; every config
value is checked where it enters, the run's own config.yaml included.
"""
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from omegaconf import OmegaConf

from callbacks.checkpoint import checkpoint_path
from data_generators.dataset_files import check_mask_files
from data_generators.tf_data_generator import SliceSequence
from data_sets.synthetic.ct import make_synthetic_splits, make_synthetic_volume, write_volume
from data_sets.manifest import adopt_recipe, manifest_path, read_manifest
from data_sets.preparation import prepare_dataset
from inference.volume import check_inputs_kept, segment_ct_files
from app.run_config import run_config
from run_dirs.run_dir import has_weights, latest_trained_run, load_run_config, open_run, prepare_run
from tests.helpers import REPO, run_cli, tiny_config
from app.config import compose_config
from utils.errors import UserError, WriteError
from utils.files import list_files, refuse_overwrite, sweep_partial_files, write_atomically
from data_sets.image_files import write_png
from volumes.nifti import find_nifti_files, find_volume_pairs, load_pair
from volumes.slices import ImageSettings, SliceSettings


def digests(folder) -> dict:
    """name -> sha256 of every file under folder (relative names)."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.relpath(os.path.join(root, name), folder)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def hidden(folder) -> list:
    return [name for _, dirs, names in os.walk(folder) for name in dirs + names if name.startswith(".")]


def raw_config(work_dir, raw_root, *overrides):
    return tiny_config(work_dir, f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={raw_root}/train",
                       f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={raw_root}/val", *overrides)


# --- never write over an input ----------------------------------------------------------------------

def test_predicted_masks_never_replace_or_pose_as_a_reference(tmp_path):
    cts, other, out = tmp_path / "cts", tmp_path / "other", tmp_path / "out"
    hu, labels = make_synthetic_volume(16, 8, seed=1)
    volume, reference = write_volume(str(cts), 3, hu, labels)
    write_volume(str(other), 3, hu, labels)
    os.remove(other / "segmentation-3.nii")
    upper = tmp_path / "upper"                         # names in another case are the same LiTS files
    upper.mkdir()
    shutil.copy(volume, upper / "Volume-3.NII")
    shutil.copy(reference, upper / "Segmentation-3.nii")
    before = digests(tmp_path)
    with pytest.raises(UserError, match=rf"^PREDICTION.RESULTS_PATH={cts} holds volume-3.nii: the mask of volume-3.nii "
                                        r"would be written over segmentation-3.nii, the reference segmentation"):
        check_inputs_kept([volume], str(cts))          # the folder of the CT and its reference (case 1)
    with pytest.raises(UserError, match="would be written as the reference segmentation of that CT"):
        check_inputs_kept([volume], str(other))        # another LiTS folder: evaluate.py would score it as truth
    check_inputs_kept([volume], str(out))              # a folder of its own: fine
    with pytest.raises(UserError, match="holds Volume-3.NII: .* over Segmentation-3.nii, the reference"):
        check_inputs_kept([str(upper / "Volume-3.NII")], str(upper))
    with pytest.raises(UserError, match="PREDICTION.RESULTS_PATH=.* holds volume-3.nii"):   # segment_ct_files refuses too
        segment_ct_files([volume], None, SliceSettings(-200, 250, (16, 16), 1), 1, str(cts))
    os.symlink(reference, tmp_path / "link.nii")       # another name for one file is still that file
    with pytest.raises(UserError, match=r"^X would write .*link.nii over the reference: an input is never overwritten"):
        refuse_overwrite([str(tmp_path / "link.nii")], {reference: "the reference"}, "X")
    os.remove(tmp_path / "link.nii")
    assert digests(tmp_path) == before


# --- I/O errors are errors ----------------------------------------------------------------------------

def enospc_after(count):
    """An `open` that fails with ENOSPC for writing once `count` files have been written: a disk filling up."""
    written = []

    def fake_open(path, mode="r", *args, **kwargs):
        if "w" in mode:
            if len(written) >= count:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            written.append(path)
        return open(path, mode, *args, **kwargs)
    return fake_open


def test_a_disk_full_during_preprocessing_stops_with_one_line_and_deletes_nothing(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=3, val=1, size=32, slices=8, seed=5)
    cfg = raw_config(tmp_path, raw)
    prepare_dataset(cfg)
    processed = cfg.DATA_PREPARATION.PROCESSED_DATA_PATH
    before = {name: digest for name, digest in digests(processed).items() if not name.endswith("manifest.json")}
    # a rerun with another window (every slice changes) on a disk that fills up after 5 PNGs: it used to
    # warn 'skipped volume-0.nii: No space left on device', delete the slices of the volumes it had failed
    # to write as stale, and exit 0
    monkeypatch.setattr("data_sets.image_files.open", enospc_after(5), raising=False)
    wide = raw_config(tmp_path, raw, "DATA_PREPARATION.HU_WINDOW.MIN=-1000", "DATA_PREPARATION.HU_WINDOW.MAX=1000")
    with pytest.raises(WriteError) as raised:
        prepare_dataset(wide)
    assert str(raised.value).startswith(f"cannot write the slices of volume-0.nii into {processed}/train/") and \
        "(No space left on device); no slice was deleted" in str(raised.value) and "\n" not in str(raised.value)
    after = digests(processed)
    assert {name: digest for name, digest in after.items() if not name.endswith("manifest.json")} == before
    assert hidden(processed) == []                                  # no .partial-N folder, no .tmp- file
    for split in ("train", "val"):                                  # the slices are from an unfinished preparation
        with pytest.raises(UserError, match="from a preparation that did not finish .*complete: false"):
            read_manifest(f"{processed}/{split}/images")
    monkeypatch.undo()
    prepare_dataset(wide)                                           # space again: the rerun completes
    assert read_manifest(f"{processed}/train/images")["recipe"]["DATA_PREPARATION.HU_WINDOW.MIN"] == -1000


def test_a_failed_write_names_the_path_frees_its_space_and_keeps_the_earlier_file(tmp_path):
    path = str(tmp_path / "mask.png")
    write_png(path, np.ones((4, 4), np.uint8))
    before = digests(tmp_path)
    seen = []

    def fills_the_disk(temporary):
        with open(temporary, "wb") as handle:
            handle.write(b"x" * 10000)
        seen.append(os.path.getsize(temporary))
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(WriteError, match=rf"^cannot write {path} \(Input/output error\): the earlier mask.png there "
                                         r"is intact$"):
        write_atomically(path, fills_the_disk)
    with pytest.raises(WriteError, match=r"\(Read-only file system\): nothing was written under that name$"):
        write_atomically(str(tmp_path / "new.png"), lambda t: (_ for _ in ()).throw(OSError(errno.EROFS, "ro")))
    assert seen == [10000] and digests(tmp_path) == before         # the partial file is gone, the old one kept


def test_partial_files_of_dead_processes_are_swept_and_never_count_as_weights(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    checkpoint = tmp_path / "runs" / "a" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (tmp_path / "runs" / "a" / "config.yaml").write_text("RUN_DIR: .\n")
    left = checkpoint / f".tmp-{dead_pid}-model.weights.h5"       # a kill during the first save (case 10)
    left.write_bytes(b"\x89HDF partial")
    mine = checkpoint / f".tmp-{os.getpid()}-other.weights.h5"    # a save in progress: left alone
    mine.write_bytes(b"\x89HDF")
    assert not has_weights(str(tmp_path / "runs" / "a"))
    with pytest.raises(UserError, match="has finished an epoch yet"):
        latest_trained_run(str(tmp_path))
    assert sweep_partial_files(str(tmp_path), recursive=True) == 1
    assert not left.exists() and mine.exists()


def test_predict_on_a_full_disk_is_one_line_naming_the_mask(tmp_path, monkeypatch):
    cts = tmp_path / "cts"
    hu, labels = make_synthetic_volume(16, 8, seed=1)
    volume, _ = write_volume(str(cts), 3, hu, labels)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".tmp-999999999-segmentation-3.png").write_bytes(b"left by a killed run")   # case 14

    def background(images):
        probabilities = np.zeros((*images.shape[:3], 3), np.float32)
        probabilities[..., 0] = 1
        return probabilities

    def full_disk(image, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("volumes.nifti.nib.save", full_disk)
    with pytest.raises(WriteError, match=rf"^cannot write {tmp_path}/out/segmentation-3.nii.gz \(No space left on "
                                         r"device\): nothing was written under that name; the 0 mask\(s\) written "
                                         r"before it are complete$"):
        segment_ct_files([volume], background, SliceSettings(-200, 250, (16, 16), 1), 4, str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []


def test_a_full_disk_during_export_keeps_the_earlier_export(tmp_path, monkeypatch):
    import deploy.export

    out = tmp_path / "export"
    (out / "saved_model").mkdir(parents=True)
    (out / "saved_model" / "saved_model.pb").write_bytes(b"the earlier export")
    (out / "model.onnx").write_bytes(b"the earlier onnx")
    before = digests(out)

    def saved_model(forms):
        os.makedirs(os.path.join(forms.folder, "saved_model"))
        with open(os.path.join(forms.folder, "saved_model", "saved_model.pb"), "wb") as handle:
            handle.write(b"new")
        return os.path.join(forms.folder, "saved_model")

    def onnx(forms):
        with open(os.path.join(forms.folder, "model.onnx"), "wb") as handle:
            handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(deploy.export.EXPORT_FORMATS, "saved_model", saved_model)
    monkeypatch.setitem(deploy.export.EXPORT_FORMATS, "onnx", onnx)
    with pytest.raises(WriteError, match=rf"^cannot write the export into {out} \(No space left on device\): the files "
                                         r"of an earlier export there are intact$"):
        deploy.export.export_model(None, str(out), ["saved_model", "onnx"])
    assert digests(out) == before and hidden(out) == []


@pytest.mark.slow
def test_a_full_disk_while_saving_weights_is_one_line_not_a_crash(tmp_path):
    """HDF5 fails again closing a file it could not write, and crashed the interpreter at exit (exit 139)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("a small tmpfs needs root (mount)")
    try:
        code = ("import sys; import keras; from utils.errors import exit_on_user_error; "
                "from utils.files import write_atomically\n"
                "model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4000)])\n"
                "with exit_on_user_error():\n"
                f"    write_atomically('{disk}/m.weights.h5', model.save_weights, intact='earlier weights intact')\n")
        result = run_cli("-c", code, cwd=REPO)
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stderr.strip().splitlines() == [
            f"error: cannot write {disk}/m.weights.h5 (No space left on device): earlier weights intact"]
        assert os.listdir(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# --- prepared data carries its recipe -----------------------------------------------------------------

def test_training_adopts_the_manifest_and_refuses_a_contradicting_override(tmp_path):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=2, val=1, size=32, slices=8, seed=2)
    prepare_dataset(raw_config(tmp_path, raw, "DATA_PREPARATION.HU_WINDOW.MIN=-1000",
                               "DATA_PREPARATION.HU_WINDOW.MAX=1000", "INPUT.CHANNELS=1"))
    images = str(tmp_path / "data/processed/train/images")
    manifest = read_manifest(images)
    assert manifest["complete"] and manifest["slices"] == len(list_files(images))
    assert manifest["recipe"]["DATA_PREPARATION.HU_WINDOW.MIN"] == -1000 and manifest["recipe"]["INPUT.CHANNELS"] == 1
    assert {key: manifest["recipe"][key] for key in ("DATA_PREPARATION.INTENSITY_SCALING", "DATA_PREPARATION.ORIENTATION",
                                                     "DATASET.KIND", "DATASET.CLASSES")} == {
        "DATA_PREPARATION.INTENSITY_SCALING": "window", "DATA_PREPARATION.ORIENTATION": "ras", "DATASET.KIND": "lits",
        "DATASET.CLASSES": ["background", "liver", "tumour"]}
    assert [os.path.basename(s["volume"]) for s in manifest["sources"]] == ["volume-0.nii", "volume-1.nii"]
    assert manifest["sources"][0]["volume_bytes"] == os.path.getsize(raw / "train" / "volume-0.nii")
    folders = [images, str(tmp_path / "data/processed/val/images")]

    cfg = tiny_config(tmp_path)                                    # the default window: the manifest's is taken
    adopt_recipe(cfg, folders, explicit=set())
    assert (cfg.DATA_PREPARATION.HU_WINDOW.MIN, cfg.DATA_PREPARATION.HU_WINDOW.MAX, cfg.INPUT.CHANNELS) == (-1000, 1000, 1)
    asked = tiny_config(tmp_path, "DATA_PREPARATION.HU_WINDOW.MIN=-200")
    with pytest.raises(UserError, match=r"^the prepared slices were made with DATA_PREPARATION.HU_WINDOW.MIN=-1000 "
                                        rf"\({manifest_path(images)}\), the command line asks for -200: drop the "
                                        r"override, or prepare the data again with it"):
        adopt_recipe(asked, folders, explicit={"DATA_PREPARATION.HU_WINDOW.MIN"})
    with pytest.raises(UserError, match=r"^run R was trained with DATA_PREPARATION.HU_WINDOW.MIN=-200, but the slices "
                                        r"are now prepared with -1000"):
        adopt_recipe(tiny_config(tmp_path), folders, explicit=set(), trained_run="R")


def test_a_new_run_records_the_manifest_recipe_in_its_config(tmp_path):
    from training.run import adopt_prepared_recipe

    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=2, val=1, size=32, slices=8, seed=2)
    prepare_dataset(raw_config(tmp_path, raw, "DATA_PREPARATION.HU_WINDOW.MIN=-1000",
                               "DATA_PREPARATION.HU_WINDOW.MAX=1000"))
    cfg = tiny_config(tmp_path)
    prepare_run(cfg)
    adopt_prepared_recipe(cfg)
    run_dir = open_run(cfg)
    saved = load_run_config(run_dir)
    assert (saved.DATA_PREPARATION.HU_WINDOW.MIN, saved.DATA_PREPARATION.HU_WINDOW.MAX) == (-1000, 1000)


def test_train_and_val_prepared_with_different_recipes_are_refused(tmp_path):
    raw = tmp_path / "raw"
    make_synthetic_splits(str(raw), train=2, val=1, size=32, slices=8, seed=2)
    prepare_dataset(raw_config(tmp_path, raw))
    other = raw_config(tmp_path / "b", raw, "DATA_PREPARATION.HU_WINDOW.MIN=-1000")
    prepare_dataset(other)
    with pytest.raises(UserError, match="prepared with DATA_PREPARATION.HU_WINDOW.MIN=-200, those in .* with "
                                        "DATA_PREPARATION.HU_WINDOW.MIN=-1000: prepare both splits in one run"):
        adopt_recipe(tiny_config(tmp_path), [str(tmp_path / "data/processed/train/images"),
                                             other.DATASET.VAL.IMAGES_PATH], explicit=set())


# --- geometry checked -----------------------------------------------------------------------------------

@pytest.mark.parametrize("change,message", [
    (lambda a: a.__setitem__((0, 3), a[0, 3] + 50), r"origin \(50, 0, 0\) vs \(0, 0, 0\) mm"),
    (lambda a: a.__setitem__((0, 0), a[0, 0] * 2), r"spacing \(1.6, 0.8, 2.5\) vs \(0.8, 0.8, 2.5\) mm"),
])
def test_a_mask_off_its_cts_grid_is_refused_naming_both(tmp_path, change, message):
    hu, labels = make_synthetic_volume(16, 8, seed=1)
    volume, segmentation = write_volume(str(tmp_path), 1, hu, labels)
    image = nib.load(segmentation)
    affine = image.affine.copy()
    change(affine)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj).copy(), affine), segmentation)
    with pytest.raises(UserError, match=rf"^segmentation-1.nii does not lie on the grid of volume-1.nii \({message}\): "
                                        r"a mask must share its CT's affine"):
        load_pair(volume, segmentation)


def test_header_rounding_is_not_a_shift(tmp_path):
    hu, labels = make_synthetic_volume(16, 8, seed=1)
    volume, segmentation = write_volume(str(tmp_path), 1, hu, labels)
    image = nib.load(segmentation)
    affine = image.affine.copy()
    affine[:3, 3] += 1e-4                                          # float32 headers written by another tool
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj).copy(), affine), segmentation)
    assert load_pair(volume, segmentation)[1].data.shape == (16, 16, 8)


# --- runs are relocatable ---------------------------------------------------------------------------------

def test_a_moved_or_copied_run_reads_and_writes_only_where_it_is_now(tmp_path):
    cfg = tiny_config(tmp_path)
    prepare_run(cfg)
    original = open_run(cfg)
    weights = checkpoint_path(cfg)
    os.makedirs(os.path.dirname(weights))
    open(weights, "wb").close()
    copy = str(tmp_path / "copied")
    shutil.copytree(original, copy)
    moved = str(tmp_path / "elsewhere" / "moved")
    shutil.move(original, moved)

    for run in (copy, moved):
        evaluating = tiny_config(tmp_path, f"RUN_DIR={run}")      # evaluate.py / predict.py
        run_config(evaluating, overrides=[f"RUN_DIR={run}"])
        assert checkpoint_path(evaluating) == os.path.join(run, "checkpoint", os.path.basename(weights))
        resuming = tiny_config(tmp_path, f"RUN_DIR={run}")         # train.py resuming it
        prepare_run(resuming)
        open_run(resuming)
        for key in ("MODEL_CHECKPOINT", "BACKUP_AND_RESTORE", "CSV_LOGGER", "TENSORBOARD", "TIMING"):
            assert OmegaConf.select(resuming, f"CALLBACKS.{key}.PATH").startswith(run + os.sep)
    assert not os.path.exists(original)                            # the old place is not re-created


def test_a_run_saved_with_absolute_paths_is_rebased_where_it_is(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("RUN_DIR: /somewhere/runs/x\nCALLBACKS:\n  MODEL_CHECKPOINT:\n"
                                     "    PATH: /somewhere/runs/x/checkpoint\nDATA_PREPARATION:\n"
                                     "  PROCESSED_DATA_PATH: /data/processed\n")
    saved = load_run_config(str(old))
    assert saved.RUN_DIR == str(old) and saved.CALLBACKS.MODEL_CHECKPOINT.PATH == f"{old}/checkpoint"
    assert saved.DATA_PREPARATION.PROCESSED_DATA_PATH == "/data/processed"


# --- every config value checked where it enters -----------------------------------------------------------

def edited_run(tmp_path, edit):
    cfg = tiny_config(tmp_path)
    prepare_run(cfg)
    run_dir = open_run(cfg)
    path = os.path.join(run_dir, "config.yaml")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(edit(text))
    return run_dir, path


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("BATCH_SIZE: 4", "BATCH_SIZE: abc"), "HYPER_PARAMETERS.BATCH_SIZE must be an integer, got 'abc'"),
    (lambda t: t.replace("EPOCHS: 1", "EPOCHS: -3"), "HYPER_PARAMETERS.EPOCHS must be a positive integer, got -3"),
    (lambda t: t.replace("MIN: -200", "MIN: 300"),
     "DATA_PREPARATION.HU_WINDOW.MIN must be < DATA_PREPARATION.HU_WINDOW.MAX, got 300..250"),
    (lambda t: t.replace("BATCH_SIZE: 4", "BATCH_SIZE: [4"), "is not valid YAML"),
])
def test_a_hand_edited_run_config_is_one_line_naming_the_file_and_the_key(tmp_path, edit, message):
    run_dir, path = edited_run(tmp_path, edit)
    with pytest.raises(UserError) as raised:
        prepare_run(tiny_config(tmp_path, f"RUN_DIR={run_dir}"))
    assert str(raised.value).startswith(f"{path}") and message in str(raised.value) and "\n" not in str(raised.value)


def test_a_command_line_value_replaces_a_bad_one_in_the_run_config(tmp_path):
    run_dir, _ = edited_run(tmp_path, lambda t: t.replace("EPOCHS: 1", "EPOCHS: -3"))
    cfg = tiny_config(tmp_path, f"RUN_DIR={run_dir}", "HYPER_PARAMETERS.EPOCHS=5")
    prepare_run(cfg, explicit={"RUN_DIR", "HYPER_PARAMETERS.EPOCHS"})
    assert cfg.HYPER_PARAMETERS.EPOCHS == 5


def test_a_finished_run_is_one_line(tmp_path):
    from training.run import refuse_finished_run

    cfg = tiny_config(tmp_path, "HYPER_PARAMETERS.EPOCHS=2")
    prepare_run(cfg)
    run_dir = open_run(cfg)
    os.makedirs(cfg.CALLBACKS.BACKUP_AND_RESTORE.PATH)
    with open(os.path.join(cfg.CALLBACKS.BACKUP_AND_RESTORE.PATH, "training_metadata.json"), "w") as handle:
        json.dump({"epoch": 2, "batch": -1}, handle)
    with pytest.raises(UserError, match=rf"^run {run_dir} has already trained 2 epochs \(HYPER_PARAMETERS.EPOCHS=2\): "
                                        rf"nothing to train; .*python train.py RUN_DIR={run_dir} "
                                        r"HYPER_PARAMETERS.EPOCHS=4$"):
        refuse_finished_run(cfg)


def test_an_unquoted_non_ascii_value_says_to_quote_it():   # on the command line: tests/test_cli_errors.py CASES
    with pytest.raises(UserError, match=r"^cannot parse the value of PREDICTION.VOLUMES \(/data/ünï\): .*quote it, as "
                                        r"'PREDICTION.VOLUMES=\"/data/ünï\"'$"):
        compose_config(["PREDICTION.VOLUMES=/data/ünï"])
    assert compose_config(['PREDICTION.VOLUMES="/data/ünï"']).PREDICTION.VOLUMES == "/data/ünï"


# --- data the generators and the finders meet ---------------------------------------------------------------

def test_a_mask_label_beyond_the_classes_is_refused_naming_the_file(tmp_path):
    image, mask, merged = str(tmp_path / "image_0_0000.png"), str(tmp_path / "mask_0_0000.png"), str(tmp_path / "m2.png")
    write_png(image, np.zeros((16, 16, 3), np.uint8))
    labels = np.zeros((16, 16), np.uint8)
    labels[3, 3] = 7
    write_png(mask, labels)
    labels[3, 3] = 2
    write_png(merged, labels)
    message = rf"^{mask} holds label 7, but DATASET.CLASSES has 3 classes \(labels 0..2\)"
    with pytest.raises(UserError, match=message):
        SliceSequence([image], [mask], 1, classes=3, inputs=ImageSettings(3)).load_pair(0)
    with pytest.raises(UserError, match=message):                  # DALI: checked before training
        check_mask_files([merged, mask], 3)
    _, one_hot = SliceSequence([image], [merged], 1, classes=2, inputs=ImageSettings(3), label_count=3).load_pair(0)
    assert one_hot[3, 3].tolist() == [0, 1]                        # LiTS with 2 classes: tumour merged into liver


def test_nifti_names_are_found_in_any_case(tmp_path):
    hu, labels = make_synthetic_volume(16, 8, seed=1)
    volume, segmentation = write_volume(str(tmp_path), 7, hu, labels)
    os.rename(volume, tmp_path / "Volume-7.NII")
    os.rename(segmentation, tmp_path / "Segmentation-7.nii")
    assert find_nifti_files(str(tmp_path)) == [str(tmp_path / "Volume-7.NII")]
    assert find_volume_pairs(str(tmp_path)) == [(7, str(tmp_path / "Volume-7.NII"), str(tmp_path / "Segmentation-7.nii"))]
