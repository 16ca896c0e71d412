"""The one table of names per choice, the one PNG listing and the one positive-integer check."""
import pytest

from tests.helpers import run_cli, tiny_config
from app.choices import CHOICES, check_choices, choices_help
from app.config import positive_int, validate_config
from utils.errors import UserError
from utils.files import list_files, require_dir


@pytest.mark.parametrize("key,bad,valid", [
    ("MODEL.TYPE", "unet4", "unet3plus, unet3plus_deepsup, unet3plus_deepsup_cgm"),
    ("MODEL.BACKBONE.TYPE", "resnet50", "unet3plus, vgg16, vgg19"),
    ("DATA_GENERATOR_TYPE", "TORCH_GENERATOR", "TF_GENERATOR, DALI_GENERATOR"),
    ("EVALUATION.HD95", "mean", "max_of_directed, pooled"),
    ("DATASET.KIND", "coco", "lits, images, nnunet, kits19"),
    ("USE_MULTI_GPUS.STRATEGY", "horovod", "mirrored, multi_worker"),
    ("OPTIMIZATION.AMP", "fp16", "True, False, float32, float16, bfloat16"),
    ("PREDICTION.OUTPUT_FORMAT", "png", "auto, nifti, dicom_seg, both"),
    ("INFERENCE.BACKEND", "tensorrt", "auto, keras, onnxruntime, openvino (optionally NAME:PRECISION)"),
    ("BENCHMARK.BACKENDS", "[keras,tensorrt:int8]", "keras, onnxruntime, openvino (optionally NAME:PRECISION)"),
    ("EXPORT.FORMATS", "[onnx,tflite]", "saved_model, onnx, onnx_int8, openvino"),
])
def test_config_names_are_checked_against_the_implementers_tables(tmp_path, key, bad, valid):
    check_choices(tiny_config(tmp_path))
    with pytest.raises(UserError) as raised:
        validate_config(tiny_config(tmp_path, f"{key}={bad}"))
    got = bad.strip("[]").split(",")[-1].partition(":")[0]   # a list's bad entry, without its precision
    assert str(raised.value) == f"{key} must be one of {valid}; got '{got}'"


def test_an_empty_list_of_names_is_refused(tmp_path):
    with pytest.raises(UserError, match=r"^EXPORT.FORMATS is empty; choose one or more of saved_model, onnx"):
        validate_config(tiny_config(tmp_path, "EXPORT.FORMATS=[]"))


def test_the_tables_are_read_where_they_are_needed_not_filled_by_imports():
    """Importing the config code loads no table owner (no side effects); every table is its owner's own."""
    completed = run_cli("-c", "import sys, app.config, app.cli; "
                              "print(sorted({m.split('.')[0] for m in sys.modules} & {'models', 'data_generators', "
                              "'data_sets', 'deploy', 'inference', 'tensorflow'}))")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
    import importlib
    for key, choice in CHOICES.items():
        module, _, name = choice.table.partition(":")
        assert len(getattr(importlib.import_module(module), name)) >= 1, key


def test_every_key_the_code_chooses_from_has_a_row_in_choices():
    import re

    from tests.test_package import _source_files
    chosen = set()
    for path in _source_files():
        if path.endswith(".py"):
            chosen.update(re.findall(r'choose\("([A-Z_.]+)"', open(path).read()))
    assert chosen and chosen <= set(CHOICES), sorted(chosen - set(CHOICES))


@pytest.mark.parametrize("override,message", [
    ("HYPER_PARAMETERS.BATCH_SIZE=0", "HYPER_PARAMETERS.BATCH_SIZE must be a positive integer, got 0"),
    ("HYPER_PARAMETERS.EPOCHS=-2", "HYPER_PARAMETERS.EPOCHS must be a positive integer, got -2"),
    ("SEED=-5", "SEED must be an integer from 0 to 2**32 - 1 (NumPy's range), got -5"),
    ("SEED=4294967296", "SEED must be an integer from 0 to 2**32 - 1 (NumPy's range), got 4294967296"),
    ("HYPER_PARAMETERS.LEARNING_RATE=-1", "HYPER_PARAMETERS.LEARNING_RATE must be > 0, got -1.0"),
    ("INPUT.CHANNELS=2", "INPUT.CHANNELS must be 1 or 3, got 2"),
    ("DATA_PREPARATION.SLICES_PER_IMAGE=2", "DATA_PREPARATION.SLICES_PER_IMAGE (2) must equal INPUT.CHANNELS (3): each "
                                            "prepared slice becomes one network input"),   # so it is 1 or 3
    ("OUTPUT.CLASSES=1", "OUTPUT.CLASSES must be an integer >= 2, got 1"),
    ("INPUT.HEIGHT=40 MODEL.FILTERS=[8,16,32,64,128]",
     "INPUT.HEIGHT and INPUT.WIDTH must be multiples of 16 (4 poolings of a 5-level encoder), got 40x64; the "
     "unet3plus backbone with fewer levels (a shorter MODEL.FILTERS) takes smaller multiples"),
    ("INPUT.HEIGHT=50 MODEL.FILTERS=[8,16,32]",
     "INPUT.HEIGHT and INPUT.WIDTH must be multiples of 4 (2 poolings of a 3-level encoder), got 50x64; the "
     "unet3plus backbone with fewer levels (a shorter MODEL.FILTERS) takes smaller multiples"),
    ("MODEL.FILTERS=[8]", "MODEL.FILTERS must list 2 or more positive filter counts (one per encoder level; the "
                          "paper's 5), got [8]"),
    ("MODEL.BACKBONE.TYPE=vgg16 MODEL.FILTERS=[8,16,32]",
     "MODEL.FILTERS=[8, 16, 32] asks for 3 levels, but MODEL.BACKBONE.TYPE=vgg16 has 5 of its own widths "
     "(MODEL.FILTERS shapes the unet3plus backbone): use that backbone for another depth, or leave MODEL.FILTERS at 5 "
     "values"),
])
def test_out_of_range_values_are_refused_naming_the_key(tmp_path, override, message):
    with pytest.raises(UserError) as raised:
        validate_config(tiny_config(tmp_path, *override.split()))
    assert str(raised.value) == message


def test_help_lists_the_valid_names_of_each_choice():
    assert choices_help().splitlines() == [
        "Valid names:",
        "  BENCHMARK.BACKENDS: keras | onnxruntime | openvino",
        "  BENCHMARK.CPU_BACKENDS.BACKENDS: keras | onnxruntime | openvino",
        "  BENCHMARK.INPUT: auto | run | random",
        "  BENCHMARK.SWEEP.AMP: True | False | float32 | float16 | bfloat16",
        "  BENCHMARK.SWEEP.BACKBONES: unet3plus | vgg16 | vgg19",
        "  BENCHMARK.SWEEP.MODELS: unet3plus | unet3plus_deepsup | unet3plus_deepsup_cgm",
        "  CALLBACKS.EARLY_STOPPING.MONITOR: checkpoint | val_loss",
        "  CALLBACKS.MODEL_CHECKPOINT.MONITOR: dice_coef | hard_dice_coef",
        "  DATASET.KIND: lits | images | nnunet | kits19",
        "  DATA_GENERATOR_TYPE: TF_GENERATOR | DALI_GENERATOR",
        "  DATA_PREPARATION.INTENSITY_SCALING: window | slice_min_max",
        "  DATA_PREPARATION.ORIENTATION: ras | recipe",
        "  EVALUATION.HD95: max_of_directed | pooled",
        "  EXPORT.FORMATS: saved_model | onnx | onnx_int8 | openvino",
        "  INFERENCE.BACKEND: auto | keras | onnxruntime | openvino",
        "  MODEL.BACKBONE.TYPE: unet3plus | vgg16 | vgg19",
        "  MODEL.KERNEL_INITIALIZER: glorot_uniform | he_normal",
        "  MODEL.TYPE: unet3plus | unet3plus_deepsup | unet3plus_deepsup_cgm",
        "  OPTIMIZATION.AMP: True | False | float32 | float16 | bfloat16",
        "  PREDICTION.OUTPUT_FORMAT: auto | nifti | dicom_seg | both",
        "  SYNTHETIC.FORMAT: jpg | png | bmp | tif",
        "  USE_MULTI_GPUS.STRATEGY: mirrored | multi_worker",
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
