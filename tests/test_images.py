"""data=images: the user's picture folders as they come (pairing, bad inputs, split, generators,
scoring at each image's own size, prediction), end to end on generated photos."""
import csv
import os
import shutil

import cv2
import numpy as np
import pytest

from data_generators import dali_data_generator
from data_generators.data_generator import get_data_generator
from data_generators.dataset_files import list_split_pairs
from data_sets.synthetic.photos import make_photo, make_synthetic_images, write_pair
from data_sets.images import find_pairs, held_out, picture_outputs, prediction_inputs
from data_sets.kinds import ClassSetup, dataset_kind
from evaluation.images import evaluate_images
from tests.helpers import run_main, tiny_config
from utils.errors import UserError
from volumes.slices import ImageSettings, image_settings, picture_settings

FOUR_CLASSES = "DATASET.CLASSES=[background,red,green,blue]"
needs_dali = pytest.mark.skipif(dali_data_generator.dali_import_error() is not None,
                                reason="NVIDIA DALI not installed")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """12 train + 4 val non-square RGB JPGs of odd sizes with 4-class PNG masks."""
    return make_synthetic_images(str(tmp_path_factory.mktemp("photos")), train=12, val=4, classes=4, seed=3)


def folders(root, split="train"):
    return os.path.join(root, split, "images"), os.path.join(root, split, "masks")


def images_config(work_dir, root, *overrides, val=True):
    train_images, train_masks = folders(root)
    paths = [f"DATASET.TRAIN.IMAGES_PATH={train_images}", f"DATASET.TRAIN.MASK_PATH={train_masks}"]
    if val:
        val_images, val_masks = folders(root, "val")
        paths += [f"DATASET.VAL.IMAGES_PATH={val_images}", f"DATASET.VAL.MASK_PATH={val_masks}"]
    return tiny_config(work_dir, "data=images", FOUR_CLASSES, "INPUT.HEIGHT=32", "INPUT.WIDTH=48", *paths, *overrides)


def one_pair(folder, name, labels, image_name=None, mask_name=None, photo=None):
    """An image and its mask PNG in folder/images, folder/masks (names as given)."""
    images, masks = os.path.join(folder, "images"), os.path.join(folder, "masks")
    os.makedirs(images, exist_ok=True)
    os.makedirs(masks, exist_ok=True)
    photo = np.full((*labels.shape, 3), 120, np.uint8) if photo is None else photo
    cv2.imwrite(os.path.join(images, image_name or f"{name}.png"), photo)
    cv2.imwrite(os.path.join(masks, mask_name or f"{name}.png"), labels)
    return images, masks


# --- pairing ------------------------------------------------------------------------------------------

def test_images_pair_with_masks_by_stem_whatever_the_extension_case_or_spaces(tmp_path, capsys):
    labels = np.zeros((5, 7), np.uint8)
    for image_name, mask_name in [("a photo (1).JPG", "a photo (1)_seg.png"), ("b.Png", "b_seg.PNG"),
                                  ("c.tiff", "c_seg.bmp"), ("d.jpeg", "d_seg.tif"), ("é-x.bmp", "é-x_seg.png")]:
        images, masks = one_pair(tmp_path, None, labels, image_name, mask_name)
    cv2.imwrite(os.path.join(masks, "orphan_seg.png"), labels)
    open(os.path.join(images, "notes.txt"), "w").close()
    pairs = find_pairs(images, masks, "_seg")
    assert [(stem, os.path.basename(image), os.path.basename(mask)) for stem, image, mask in pairs] == [
        ("a photo (1)", "a photo (1).JPG", "a photo (1)_seg.png"), ("b", "b.Png", "b_seg.PNG"),
        ("c", "c.tiff", "c_seg.bmp"), ("d", "d.jpeg", "d_seg.tif"), ("é-x", "é-x.bmp", "é-x_seg.png")]
    warning = capsys.readouterr().err
    assert "warning: 1 mask(s) in" in warning and "orphan_seg.png" in warning


def test_a_mask_without_an_image_is_a_warning(tmp_path, capsys):
    images, masks = one_pair(tmp_path, "a", np.zeros((4, 4), np.uint8))
    cv2.imwrite(os.path.join(masks, "lonely.png"), np.zeros((4, 4), np.uint8))
    assert len(find_pairs(images, masks)) == 1
    assert "warning: 1 mask(s) in" in capsys.readouterr().err


def test_images_and_masks_may_share_a_folder_when_masks_have_a_suffix(tmp_path):
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((4, 6, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "x_mask.png"), np.zeros((4, 6), np.uint8))
    assert [p[0] for p in find_pairs(str(tmp_path), str(tmp_path), "_mask")] == ["x"]


@pytest.mark.parametrize("case,message", [
    ("no_mask", "1 image(s) in {images} have no mask in {masks}: b.png (looked for b.png, .jpg, .bmp or .tif"),
    ("empty", "DATASET.TRAIN.IMAGES_PATH={images} holds no image files (png/jpg/jpeg/bmp/tif/tiff)"),
    ("missing", "DATASET.TRAIN.MASK_PATH: folder not found: {masks}"),
    ("unset", "DATASET.TRAIN.IMAGES_PATH is not set: data=images reads your folders"),
    ("same_stem", "DATASET.TRAIN.IMAGES_PATH: a.jpg and a.png in {images} have the same name apart from the extension"),
])
def test_bad_folders_are_one_line_naming_the_file_or_key(tmp_path, case, message):
    images, masks = one_pair(tmp_path, "a", np.zeros((4, 4), np.uint8))
    overrides = []
    if case == "no_mask":
        cv2.imwrite(os.path.join(images, "b.png"), np.zeros((4, 4), np.uint8))
    elif case == "empty":
        for name in os.listdir(images):
            os.remove(os.path.join(images, name))
    elif case == "missing":
        shutil.rmtree(masks)
    elif case == "unset":
        overrides = ["DATASET.TRAIN.IMAGES_PATH=null"]
    else:
        cv2.imwrite(os.path.join(images, "a.jpg"), np.zeros((4, 4), np.uint8))
    cfg = tiny_config(tmp_path, "data=images", f"DATASET.TRAIN.IMAGES_PATH={images}",
                      f"DATASET.TRAIN.MASK_PATH={masks}", *overrides)
    with pytest.raises(UserError) as raised:
        list_split_pairs(cfg, "train")
    assert str(raised.value).startswith(message.format(images=images, masks=masks))


# --- masks checked before training (both generators read only checked pairs) -----------------------

def _bad_mask_config(tmp_path, mask, *overrides, image_shape=None):
    folder = tmp_path / "data"
    labels = np.zeros((6, 8), np.uint8)
    for n in range(4):
        one_pair(folder, f"ok{n}", labels)
    images, masks = one_pair(folder, "z bad", labels)
    if image_shape is not None:
        cv2.imwrite(os.path.join(images, "z bad.png"), np.zeros(image_shape, np.uint8))
    cv2.imwrite(os.path.join(masks, "z bad.png"), mask)
    return tiny_config(tmp_path, "data=images", f"DATASET.TRAIN.IMAGES_PATH={images}",
                       f"DATASET.TRAIN.MASK_PATH={masks}", "DATASET.VAL_FRACTION=0.2", *overrides)


@pytest.mark.parametrize("mask,overrides,image_shape,message", [
    (np.full((6, 8), 4, np.uint8), [FOUR_CLASSES], None,
     "mask {masks}/z bad.png holds label 4, but DATASET.CLASSES has 4 classes (labels 0..3)"),
    (np.full((6, 8), 255, np.uint8), [], None,
     "mask {masks}/z bad.png holds label 255, but DATASET.CLASSES has 2 classes (labels 0..1): fix the mask or the "
     "class list; for 0/255 masks set DATASET.BINARY_MASKS=True"),
    (np.full((6, 8), 128, np.uint8), ["DATASET.BINARY_MASKS=True"], None,
     "mask {masks}/z bad.png holds values 128; a binary mask holds 0 and 255 (or 0 and 1)"),
    (np.zeros((6, 8), np.uint8), [], (6, 9, 3),
     "image {images}/z bad.png is 9x6 but its mask {masks}/z bad.png is 8x6 (width x height)"),
    (np.dstack([np.zeros((6, 8), np.uint8), np.ones((6, 8), np.uint8), np.zeros((6, 8), np.uint8)]), [], None,
     "mask {masks}/z bad.png is a colour image: a mask holds one class index per pixel"),
    (np.zeros((6, 8), np.uint16), [], None, "mask {masks}/z bad.png is 16-bit"),
    (np.zeros((6, 8), np.uint8), [FOUR_CLASSES, "DATASET.BINARY_MASKS=True"], None,
     "DATASET.BINARY_MASKS=True reads masks as background/foreground, but DATASET.CLASSES names 4 classes"),
])
@pytest.mark.parametrize("where", ["split from one folder", "validation folder"])
def test_bad_masks_are_refused_before_training_naming_file_and_value(tmp_path, mask, overrides, image_shape, message,
                                                                     where):
    """One pass over the masks of each split before training, so both generators read only checked pairs."""
    cfg = _bad_mask_config(tmp_path, mask, *overrides, image_shape=image_shape)
    images, masks = cfg.DATASET.TRAIN.IMAGES_PATH, cfg.DATASET.TRAIN.MASK_PATH
    if where == "validation folder":   # a clean training folder, the bad pair in the validation folder
        clean_images, clean_masks = one_pair(tmp_path / "clean", "fine", np.zeros((6, 8), np.uint8))
        cfg.DATASET.TRAIN.IMAGES_PATH, cfg.DATASET.TRAIN.MASK_PATH = clean_images, clean_masks
        cfg.DATASET.VAL.IMAGES_PATH, cfg.DATASET.VAL.MASK_PATH = images, masks
        if not message.startswith("DATASET.BINARY_MASKS"):
            list_split_pairs(cfg, "train")
    with pytest.raises(UserError) as raised:
        for split in ("train", "val"):
            list_split_pairs(cfg, split)
    assert str(raised.value).startswith(message.format(images=images, masks=masks))


def test_verify_data_checks_picture_folders_as_training_does(photos, tmp_path):
    from data_sets.verification import verify_dataset

    result = verify_dataset(images_config(tmp_path, photos, "VERIFY.SAMPLES=2"))
    assert (result["train"]["pairs"], result["val"]["pairs"]) == (12, 4) and os.path.isfile(result["figure"])
    with pytest.raises(UserError, match="holds label 4, but DATASET.CLASSES has 4 classes"):
        verify_dataset(_bad_mask_config(tmp_path, np.full((6, 8), 4, np.uint8), FOUR_CLASSES))


# --- the validation split -----------------------------------------------------------------------------

def test_a_validation_split_is_cut_from_one_folder_by_seed(photos, tmp_path):
    cfg = images_config(tmp_path, photos, "DATASET.VAL_FRACTION=0.25", val=False)
    train, val = list_split_pairs(cfg, "train")[0], list_split_pairs(cfg, "val")[0]
    assert len(val) == 3 and len(train) == 9 and not set(train) & set(val)
    assert list_split_pairs(cfg, "val")[0] == val   # the same seed draws the same split
    other = list_split_pairs(images_config(tmp_path, photos, "DATASET.VAL_FRACTION=0.25", "SEED=6", val=False), "val")[0]
    assert other != val


def test_image_folds_partition_the_training_images(photos, tmp_path):
    held = [list_split_pairs(images_config(tmp_path, photos, "DATASET.NUM_FOLDS=3", f"DATASET.FOLD={k}"), "val")[0]
            for k in range(3)]
    everything = images_config(tmp_path, photos, val=False)
    assert sorted(sum(held, [])) == sorted(list_split_pairs(everything, "train")[0] + list_split_pairs(everything, "val")[0])
    assert [len(h) for h in held] == [4, 4, 4]
    train = list_split_pairs(images_config(tmp_path, photos, "DATASET.NUM_FOLDS=3", "DATASET.FOLD=1"), "train")[0]
    assert sorted(train) == sorted(held[0] + held[2])


def test_split_depends_on_names_and_seed_only():
    stems = [f"p{n}" for n in range(10)]
    assert held_out(stems, 5, fraction=0.3) == held_out(list(stems), 5, fraction=0.3)
    assert sum(held_out(stems, 5, fraction=0.3)) == 3
    with pytest.raises(UserError, match="DATASET.VAL_FRACTION=0.99 of 10 image"):
        held_out(stems, 5, fraction=0.99)
    with pytest.raises(UserError, match="DATASET.VAL_FRACTION must be a number between 0 and 1"):
        held_out(stems, 5, fraction=1.5)


# --- generators ---------------------------------------------------------------------------------------

def test_tf_generator_resizes_pictures_of_any_size_to_the_input(photos, tmp_path):
    cfg = images_config(tmp_path, photos, "HYPER_PARAMETERS.BATCH_SIZE=4")
    assert not dataset_kind(cfg).volumetric
    images, masks = get_data_generator(cfg, "train").data[0]
    assert images.shape == (4, 32, 48, 3) and masks.shape == (4, 32, 48, 4)
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    assert set(np.unique(masks.sum(-1))) == {1.0} and masks[..., 1:].sum() > 0   # one-hot, shapes kept


def test_grayscale_pictures_and_binary_masks(tmp_path):
    root = make_synthetic_images(str(tmp_path / "grey"), train=6, val=2, seed=1, grayscale=True, binary=True,
                                 image_format="png", mask_suffix="_mask")
    cfg = images_config(tmp_path, root, "DATASET.CLASSES=[background,shape]", "DATASET.BINARY_MASKS=True",
                        "DATASET.MASK_SUFFIX=_mask", "INPUT.CHANNELS=1", "DATA_PREPARATION.SLICES_PER_IMAGE=1",
                        "HYPER_PARAMETERS.BATCH_SIZE=2")
    images, masks = get_data_generator(cfg, "val").data[0]
    assert images.shape == (2, 32, 48, 1) and masks.shape == (2, 32, 48, 2) and masks[..., 1].sum() > 0


@needs_dali
def test_dali_resizes_pictures_as_the_tf_generator(photos, tmp_path):
    tf_cfg = images_config(tmp_path, photos, "HYPER_PARAMETERS.BATCH_SIZE=4", "PREPROCESS_DATA.SHUFFLE=False")
    dali_cfg = images_config(tmp_path, photos, "HYPER_PARAMETERS.BATCH_SIZE=4", "PREPROCESS_DATA.SHUFFLE=False",
                             "DATA_GENERATOR_TYPE=DALI_GENERATOR")
    tf_images, tf_masks = get_data_generator(tf_cfg, "train").data[0]
    dali_images, dali_masks = (t.numpy() for t in next(iter(get_data_generator(dali_cfg, "train").data)))
    assert dali_images.shape == tf_images.shape and dali_masks.shape == tf_masks.shape
    assert np.abs(dali_images - tf_images).mean() < 0.02        # antialiased linear vs area: close
    agree = (dali_masks.argmax(-1) == tf_masks.argmax(-1)).mean()
    assert agree > 0.95, agree                                   # nearest vs class coverage: edges only


def test_pictures_become_inputs_as_their_settings_say(photos, tmp_path):
    """One owner of a picture's input settings (volumes.slices): pictures resized to the network's input and
    normalised per PREPROCESS_DATA.NORMALIZE_IMAGE; prepared slices of a CT kind already have the input size."""
    cfg = images_config(tmp_path, photos, "HYPER_PARAMETERS.BATCH_SIZE=4", "PREPROCESS_DATA.NORMALIZE_IMAGE=False")
    assert image_settings(cfg) == picture_settings(cfg) == ImageSettings(3, False, (32, 48))
    lits = tiny_config(tmp_path)
    assert image_settings(lits) == ImageSettings(lits.INPUT.CHANNELS, True, None)
    assert picture_settings(lits).size == (lits.INPUT.HEIGHT, lits.INPUT.WIDTH)   # PREDICTION.IMAGES on a CT run
    images, _ = get_data_generator(cfg, "train").data[0]
    assert images.shape == (4, 32, 48, 3) and 1 < images.max() <= 255   # not divided by 255


# --- scoring and prediction at each image's own size ---------------------------------------------------

def test_images_are_scored_at_their_own_size(tmp_path):
    """A network answering 'background' everywhere: Dice 0 for each class an image has, 1 for classes it lacks."""
    labels = np.zeros((30, 50), np.uint8)
    labels[5:15, 5:20] = 1
    images, masks = one_pair(tmp_path, "one", labels)
    labels = np.zeros((41, 23), np.uint8)
    labels[2:9, 3:9] = 2
    one_pair(tmp_path, "two", labels)
    pairs = find_pairs(images, masks)
    seen = []

    def background(batch):
        seen.append(batch.shape)
        out = np.zeros((*batch.shape[:3], 3), np.float32)
        out[..., 0] = 1
        return out

    setup = ClassSetup(("background", "red", "green"), 3, {"red": (1,), "green": (2,)}, None)
    result = evaluate_images(pairs, background, ImageSettings(3, True, (32, 48)), setup, 4)
    assert seen == [(2, 32, 48, 3)]
    one, two = result.cases
    assert (one["image"], one["height"], one["width"]) == ("one", 30, 50)
    assert (two["height"], two["width"]) == (41, 23)
    assert (one["dice_red"], one["dice_green"], one["iou_red"], one["iou_green"]) == (0.0, 1.0, 0.0, 1.0)
    assert (two["dice_red"], two["dice_green"]) == (1.0, 0.0)
    mean, pooled = result.summary
    assert mean["image"] == "mean" and mean["dice_red"] == 0.5 and pooled["image"] == "global"
    assert pooled["dice_red"] == 0.0 and pooled["iou_green"] == 0.0


def test_prediction_inputs_are_files_folders_or_lists(photos, tmp_path):
    folder = folders(photos, "val")[0]
    files = prediction_inputs(folder)
    assert len(files) == 4 and prediction_inputs([files[0], folder]) == [files[0], *files]
    with pytest.raises(UserError, match="PREDICTION.IMAGES: not found: nowhere.jpg"):
        prediction_inputs(["nowhere.jpg"])
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(UserError, match="is not an image file"):
        prediction_inputs(str(tmp_path / "x.txt"))


def test_predictions_never_replace_an_input_or_each_other(tmp_path):
    inputs = [str(tmp_path / "a.png"), str(tmp_path / "b.jpg")]
    assert picture_outputs(inputs, str(tmp_path / "out"), str(tmp_path / "out" / "predictions.png")) == [
        str(tmp_path / "out" / "a.png"), str(tmp_path / "out" / "b.png")]
    with pytest.raises(UserError) as raised:
        picture_outputs(inputs, str(tmp_path), None)
    assert str(raised.value) == (f"PREDICTION.RESULTS_PATH would write {tmp_path}/a.png over the input image "
                                 f"{inputs[0]}: an input is never overwritten; set PREDICTION.RESULTS_PATH to another "
                                 f"folder")
    with pytest.raises(UserError, match="holds .*a.png and .*a.jpg: both would be predicted as a.png"):
        picture_outputs([inputs[0], str(tmp_path / "a.jpg")], str(tmp_path / "out"), None)
    with pytest.raises(UserError, match="would be predicted as predictions.png, the name of the figure"):
        picture_outputs([str(tmp_path / "predictions.jpg")], str(tmp_path / "out"), str(tmp_path / "out/predictions.png"))


# --- end to end, as a user types it (each command line run by its script's main(): tests/helpers.run_main) ---------

TINY_TRAIN = ["MODEL.FILTERS=[8,16,32]", "MODEL.SKIP_FILTERS=8", "HYPER_PARAMETERS.EPOCHS=1",
              "HYPER_PARAMETERS.BATCH_SIZE=4", "VERBOSE=0", "CALLBACKS.TENSORBOARD.VALUE=False"]


def _read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def picture_run(photos, tmp_path_factory):
    """(work dir, the command line's data overrides) of a 1-epoch tiny run on the 4-class photos, trained as a
    user types it."""
    work_dir = tmp_path_factory.mktemp("picture_run")
    train_images, train_masks = folders(photos)
    val_images, val_masks = folders(photos, "val")
    data = ["data=images", f"DATASET.TRAIN.IMAGES_PATH={train_images}", f"DATASET.TRAIN.MASK_PATH={train_masks}",
            f"DATASET.VAL.IMAGES_PATH={val_images}", f"DATASET.VAL.MASK_PATH={val_masks}", FOUR_CLASSES,
            "INPUT.HEIGHT=32", "INPUT.WIDTH=48", f"WORK_DIR={work_dir}"]
    trained = run_main("train.py", *data, *TINY_TRAIN)
    assert trained.returncode == 0, trained.stderr[-2000:]
    return work_dir, data


@pytest.mark.slow
def test_train_evaluate_predict_four_classes_of_non_square_jpgs(picture_run, photos, tmp_path):
    work_dir, data = picture_run
    val_images = folders(photos, "val")[0]
    evaluated = run_main("evaluate.py", *data)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    run_dir = [os.path.join(work_dir, "runs", d) for d in os.listdir(work_dir / "runs")][0]
    rows = _read_csv(os.path.join(run_dir, "evaluation", "summary.csv"))
    assert list(rows[0])[:3] == ["image", "height", "width"]
    for name in ("red", "green", "blue"):
        assert f"dice_{name}" in rows[0] and f"iou_{name}" in rows[0]
        assert all(0.0 <= float(row[f"dice_{name}"]) <= 1.0 for row in rows)
    assert [row["image"] for row in rows] == ["photo_12", "photo_13", "photo_14", "photo_15", "mean", "global"]
    assert (int(rows[0]["height"]), int(rows[0]["width"])) == cv2.imread(os.path.join(val_images, "photo_12.jpg")).shape[:2]
    assert "dice_red" in evaluated.stdout and os.path.isfile(os.path.join(run_dir, "evaluation", "summary.png"))

    new = tmp_path / "new"
    for n in range(3):
        photo, labels = make_photo([9, n], 240, 320)
        write_pair(str(new), str(tmp_path / "unused"), f"new photo {n}", photo, labels)
    out = tmp_path / "out"
    predicted = run_main("predict.py", "data=images", f"WORK_DIR={work_dir}", f"PREDICTION.IMAGES={new}",
                        f"PREDICTION.RESULTS_PATH={out}")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    unnamed = run_main("predict.py", f"WORK_DIR={work_dir}")
    assert unnamed.returncode == 2 and unnamed.stderr.strip().splitlines()[-1] == (
        "error: this run is data=images: name the pictures to segment with PREDICTION.IMAGES=<image file, folder or "
        "list>")
    written = sorted(os.listdir(out))
    assert written == ["new photo 0.png", "new photo 1.png", "new photo 2.png", "predictions.png"]
    for name in written[:3]:
        mask = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (240, 320) and mask.dtype == np.uint8 and mask.max() <= 3


@pytest.mark.slow
def test_grayscale_binary_masks_from_one_folder_train_and_score(tmp_path):
    root = make_synthetic_images(str(tmp_path / "grey"), train=10, val=0, seed=2, grayscale=True, binary=True)
    images, masks = folders(root)
    data = ["data=images", f"DATASET.TRAIN.IMAGES_PATH={images}", f"DATASET.TRAIN.MASK_PATH={masks}",
            "DATASET.CLASSES=[background,shape]", "DATASET.BINARY_MASKS=True", "INPUT.CHANNELS=1",
            "INPUT.HEIGHT=32", "INPUT.WIDTH=32", f"WORK_DIR={tmp_path}"]
    trained = run_main("train.py", *data, *TINY_TRAIN)
    assert trained.returncode == 0, trained.stderr[-2000:]
    evaluated = run_main("evaluate.py", f"WORK_DIR={tmp_path}")   # folders, mask reading and split from the run
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    run_dir = [os.path.join(tmp_path, "runs", d) for d in os.listdir(tmp_path / "runs")][0]
    rows = _read_csv(os.path.join(run_dir, "evaluation", "summary.csv"))
    assert [row["image"] for row in rows][-2:] == ["mean", "global"] and len(rows) == 4   # 2 of 10 held out
    assert "dice_shape" in rows[0] and "iou_shape" in rows[0]


@pytest.mark.slow
def test_cross_validation_folds_over_images(tmp_path):
    root = make_synthetic_images(str(tmp_path / "photos"), train=6, val=0, classes=3, seed=4)
    images, masks = folders(root)
    result = run_main("cross_validate.py", "data=images", f"DATASET.TRAIN.IMAGES_PATH={images}",
                     f"DATASET.TRAIN.MASK_PATH={masks}", "DATASET.CLASSES=[background,red,green]",
                     "DATASET.NUM_FOLDS=2", "INPUT.HEIGHT=32", "INPUT.WIDTH=32", f"WORK_DIR={tmp_path}",
                     f"CROSS_VALIDATION.RESULTS_PATH={tmp_path}/cv", *TINY_TRAIN, "HYPER_PARAMETERS.BATCH_SIZE=2")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _read_csv(tmp_path / "cv" / "summary.csv")
    assert list(rows[0])[:2] == ["fold", "image"] and "dice_red" in rows[0] and "iou_green" in rows[0]
    held_out = [row["image"] for row in rows[:-2]]
    assert sorted(held_out) == [f"photo_{n}" for n in range(6)]          # every image held out once
    assert [row["fold"] for row in rows[:-2]].count("0") == 3 and [row["image"] for row in rows[-2:]] == ["mean", "sd"]


@pytest.mark.slow
def test_notebook_follows_a_picture_run(picture_run, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    from tests.helpers import REPO

    work_dir, _ = picture_run
    monkeypatch.setenv("UNET3P_WORK_DIR", str(work_dir))   # the latest run: its folders, split and classes
    monkeypatch.setenv("UNET3P_OVERRIDES", f"PREDICTION.RESULTS_PATH={tmp_path}")
    notebook = nbformat.read(os.path.join(REPO, "predict.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": REPO}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) == 2          # (a) the validation images with masks, (b) named pictures; no CT
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "4 images predicted" in text and "data=images run: no CT volumes" in text
