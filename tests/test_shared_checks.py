"""The one table of names per choice, the one PNG listing and the one positive-integer check."""
import pytest

import callbacks.training_callbacks  # noqa: F401  (registers CALLBACKS.EARLY_STOPPING.MONITOR)
import data_generators.data_generator  # noqa: F401  (registers DATA_GENERATOR_TYPE)
import data_sets.kinds  # noqa: F401  (registers DATASET.KIND)
import evaluation.metrics  # noqa: F401  (registers EVALUATION.HD95)
import models.model_factory  # noqa: F401  (registers MODEL.TYPE, MODEL.BACKBONE.TYPE, the checkpoint's metric)
import volumes.slices  # noqa: F401  (registers DATA_PREPARATION.INTENSITY_SCALING and ORIENTATION)
from tests.helpers import tiny_config
from utils.choices import check_choices, choices_help
from utils.config import positive_int, validate_config
from utils.errors import UserError
from utils.files import list_files, require_dir


@pytest.mark.parametrize("key,bad,valid", [
    ("MODEL.TYPE", "unet4", "unet3plus, unet3plus_deepsup, unet3plus_deepsup_cgm"),
    ("MODEL.BACKBONE.TYPE", "resnet50", "unet3plus, vgg16, vgg19"),
    ("DATA_GENERATOR_TYPE", "TORCH_GENERATOR", "TF_GENERATOR, DALI_GENERATOR"),
    ("EVALUATION.HD95", "mean", "max_of_directed, pooled"),
    ("DATASET.KIND", "coco", "lits, images, nnunet, kits19"),
])
def test_config_names_are_checked_against_the_implementers_tables(tmp_path, key, bad, valid):
    check_choices(tiny_config(tmp_path))
    with pytest.raises(UserError) as raised:
        validate_config(tiny_config(tmp_path, f"{key}={bad}"))
    assert str(raised.value) == f"{key} must be one of {valid}; got '{bad}'"


@pytest.mark.parametrize("override,message", [
    ("HYPER_PARAMETERS.BATCH_SIZE=0", "HYPER_PARAMETERS.BATCH_SIZE must be a positive integer, got 0"),
    ("HYPER_PARAMETERS.EPOCHS=-2", "HYPER_PARAMETERS.EPOCHS must be a positive integer, got -2"),
    ("SEED=-5", "SEED must be an integer from 0 to 2**32 - 1 (NumPy's range), got -5"),
    ("SEED=4294967296", "SEED must be an integer from 0 to 2**32 - 1 (NumPy's range), got 4294967296"),
    ("HYPER_PARAMETERS.LEARNING_RATE=-1", "HYPER_PARAMETERS.LEARNING_RATE must be > 0, got -1.0"),
    ("INPUT.CHANNELS=2", "INPUT.CHANNELS must be 1 or 3, got 2"),
    ("OUTPUT.CLASSES=1", "OUTPUT.CLASSES must be an integer >= 2, got 1"),
    ("INPUT.HEIGHT=50", "INPUT.HEIGHT and INPUT.WIDTH must be multiples of 16 (4 poolings), got 50x64"),
    ("MODEL.FILTERS=[8,16]", "MODEL.FILTERS must list 5 positive filter counts, got [8, 16]"),
])
def test_out_of_range_values_are_refused_naming_the_key(tmp_path, override, message):
    with pytest.raises(UserError) as raised:
        validate_config(tiny_config(tmp_path, override))
    assert str(raised.value) == message


def test_help_lists_the_valid_names_of_each_choice():
    assert choices_help().splitlines() == [
        "Valid names:",
        "  CALLBACKS.EARLY_STOPPING.MONITOR: checkpoint | val_loss",
        "  CALLBACKS.MODEL_CHECKPOINT.MONITOR: dice_coef | hard_dice_coef",
        "  DATASET.KIND: lits | images | nnunet | kits19",
        "  DATA_GENERATOR_TYPE: TF_GENERATOR | DALI_GENERATOR",
        "  DATA_PREPARATION.INTENSITY_SCALING: window | slice_min_max",
        "  DATA_PREPARATION.ORIENTATION: ras | recipe",
        "  EVALUATION.HD95: max_of_directed | pooled",
        "  MODEL.BACKBONE.TYPE: unet3plus | vgg16 | vgg19",
        "  MODEL.KERNEL_INITIALIZER: glorot_uniform | he_normal",
        "  MODEL.TYPE: unet3plus | unet3plus_deepsup | unet3plus_deepsup_cgm",
    ]


def test_listing_keeps_visible_pngs_sorted(tmp_path):
    for name in ("b_1_0002.png", "a_1_0001.png", ".partial-a_1_0003.png", "notes.txt", "a.png.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert list_files(str(tmp_path)) == ["a_1_0001.png", "b_1_0002.png"]
    assert require_dir(str(tmp_path), "images directory") == ["a_1_0001.png", "b_1_0002.png"]
    assert list_files(str(tmp_path), ".txt") == ["notes.txt"]
    (tmp_path / "masks").mkdir()
    with pytest.raises(UserError, match="masks directory is empty"):
        require_dir(str(tmp_path / "masks"), "masks directory")
    with pytest.raises(UserError, match="images directory not found"):
        require_dir(str(tmp_path / "absent"), "images directory")


def test_positive_int_takes_only_whole_numbers_above_zero():
    assert positive_int(3, "HYPER_PARAMETERS.BATCH_SIZE") == 3
    for bad in (0, -2, True, 2.5, "4", None):
        with pytest.raises(UserError) as raised:
            positive_int(bad, "HYPER_PARAMETERS.BATCH_SIZE")
        assert str(raised.value) == f"HYPER_PARAMETERS.BATCH_SIZE must be a positive integer, got {bad!r}"
