"""OPTIMIZATION.AMP: each value's policy and loss scaling, the per-device choice, bfloat16 training and parity;
int8 ONNX (the fast CPU path) and its parity."""
import importlib.util
import os

import cv2
import keras
import numpy as np
import onnx
import pytest

import runtime.devices as runtime
from deploy.backends import build_runner
from deploy.export import ModelForms, copy_in_precision
from deploy.quantize import calibration_slices, require_calibration_images
from evaluation.volumes import evaluate_volumes
from inference.predict_fn import make_predict_fn
from models.model_factory import prepare_model
from run_dirs.loading import load_trained_model
from tests.helpers import tiny_config
from utils.errors import UserError
from runtime.devices import best_precision, configure_precision, cpu_has_bfloat16, make_optimizer
from volumes.nifti import find_volume_pairs
from volumes.slices import image_settings, slice_settings


@pytest.mark.parametrize("amp,policy,loss_scaling", [
    ("False", "float32", False),
    ("float16", "mixed_float16", True),
    ("bfloat16", "mixed_bfloat16", False),
])
@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_each_amp_value_sets_its_policy_and_loss_scaling_only_for_float16(tmp_path, capsys, amp, policy,
                                                                           loss_scaling):
    cfg = tiny_config(tmp_path, f"OPTIMIZATION.AMP={amp}")
    assert configure_precision(cfg) == policy
    assert keras.mixed_precision.global_policy().name == policy
    assert isinstance(make_optimizer(cfg), keras.optimizers.LossScaleOptimizer) is loss_scaling
    assert capsys.readouterr().out.startswith(f"precision: {policy.replace('mixed_', '')}")


@pytest.mark.parametrize("cpu_bf16,gpus,policy", [
    (True, [], "mixed_bfloat16"),              # CPU with AVX-512 BF16 / AMX
    (False, [], "float32"),                    # older CPU: nothing to gain
    (False, [(8, 0)], "mixed_bfloat16"),       # A100
    (True, [(7, 5)], "mixed_float16"),         # T4: no bfloat16 tensor cores, whatever the CPU
    (False, [(9, 0), (7, 0)], "mixed_float16"),  # mixed GPUs: the oldest decides
])
@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_amp_true_picks_the_best_precision_for_the_device(tmp_path, monkeypatch, cpu_bf16, gpus, policy):
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: cpu_bf16)
    monkeypatch.setattr(runtime, "gpu_compute_capabilities", lambda: gpus)
    cfg = tiny_config(tmp_path, "OPTIMIZATION.AMP=True")
    assert configure_precision(cfg) == policy
    assert isinstance(make_optimizer(cfg), keras.optimizers.LossScaleOptimizer) is (policy == "mixed_float16")


def test_best_precision_table():
    assert best_precision([], cpu_bfloat16=True) == "bfloat16"
    assert best_precision([(8, 6)], cpu_bfloat16=False) == "bfloat16"
    assert best_precision([(7, 0)], cpu_bfloat16=True) == "float16"


@pytest.mark.parametrize("vendor,flags,expected", [
    ("AuthenticAMD", "fpu sse avx2 avx512f avx512_bf16 avx512_vnni", True),   # EPYC Zen 4: measured 1.86x
    ("GenuineIntel", "fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile", True),  # Sapphire Rapids with AMX
    ("GenuineIntel", "fpu sse avx2 avx512f avx512_bf16 avx512_fp16", False),   # no AMX: measured 0.8x
    ("AuthenticAMD", "fpu sse avx2 avx512f avx512_vnni", False),
])
def test_cpu_bfloat16_is_read_from_cpuinfo_flags(tmp_path, vendor, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nvendor_id\t: Other\nflags\t\t: \n")
    assert cpu_has_bfloat16(str(cpuinfo)) is expected
    assert cpu_has_bfloat16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize("amp", ["fp16", "mixed"])
def test_unknown_amp_value_names_the_choices(tmp_path, amp):
    with pytest.raises(UserError, match=r"OPTIMIZATION.AMP must be one of True, False, float32, float16, bfloat16; "
                                        rf"got '?{amp}'?"):
        configure_precision(tiny_config(tmp_path, f"OPTIMIZATION.AMP={amp}"))


def test_a_number_for_amp_is_refused_by_the_schema(tmp_path):
    with pytest.raises(UserError, match="OPTIMIZATION.AMP must be True or False or a string, got 16"):
        tiny_config(tmp_path, "OPTIMIZATION.AMP=16")


def validation_dice(cfg, model):
    """Pooled Dice of liver and tumour on the validation CTs' own grid, as evaluate.py scores them."""
    pairs = find_volume_pairs(cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH)
    result = evaluate_volumes(pairs, make_predict_fn(model, False), slice_settings(cfg), cfg.OUTPUT.CLASSES, 8)
    pooled = result.summary[1]
    return np.array([pooled["dice_liver"], pooled["dice_tumour"]])


def assert_found_liver(dice):
    """The float32 model labels some liver where the truth has it, so equal Dice in another precision is not
    0 = 0. How much it finds depends on how 12 epochs went on this CPU: that is not what these tests check."""
    assert dice[0] > 0


@pytest.mark.slow
def test_trained_model_gives_the_same_dice_in_bfloat16_and_float32(trained):
    cfg, _ = trained
    model = load_trained_model(cfg)
    assert model.dtype_policy.name == "float32"
    dice32 = validation_dice(cfg, model)
    dice16 = validation_dice(cfg, copy_in_precision(model, "bfloat16", lambda: prepare_model(cfg)))
    assert_found_liver(dice32)
    np.testing.assert_allclose(dice16, dice32, atol=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("backend", [
    "onnxruntime",
    pytest.param("openvino", marks=pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                                       reason="OpenVINO is not installed")),
])
def test_trained_model_gives_the_same_dice_in_int8_onnx_and_float32(trained, tmp_path, backend):
    """The fast CPU path (INFERENCE.BACKEND=onnxruntime:int8 / openvino:int8: the same int8 ONNX file, calibrated
    on the run's training slices, run by either)."""
    cfg, _ = trained
    model = load_trained_model(cfg)
    pairs = find_volume_pairs(cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH)
    calibration = require_calibration_images(calibration_slices(cfg, image_settings(cfg)))
    int8 = build_runner(backend, "int8", ModelForms(model, str(tmp_path), calibration_images=calibration))
    result = evaluate_volumes(pairs, int8, slice_settings(cfg), cfg.OUTPUT.CLASSES, 8)
    dice8 = np.array([result.summary[1]["dice_liver"], result.summary[1]["dice_tumour"]])
    dice32 = validation_dice(cfg, model)
    assert_found_liver(dice32)
    np.testing.assert_allclose(dice8, dice32, atol=0.01)
    quantized = onnx.load(str(tmp_path / "model.int8.onnx"))
    assert sum(node.op_type == "QuantizeLinear" for node in quantized.graph.node) > 10   # int8 for real


def test_int8_without_training_slices_says_where_it_looked(tmp_path):
    cfg = tiny_config(tmp_path, f"DATA_PREPARATION.PROCESSED_DATA_PATH={tmp_path}/nothing")
    with pytest.raises(UserError, match=r"int8 is calibrated on training slices, but DATASET.TRAIN.IMAGES_PATH=.*"
                                        r"nothing/train/images has no PNG images"):
        require_calibration_images(calibration_slices(cfg, image_settings(cfg)))
    with pytest.raises(UserError, match="EXPORT.CALIBRATION_IMAGES must be a positive integer, got 0"):
        zero = tiny_config(tmp_path, "EXPORT.CALIBRATION_IMAGES=0")
        calibration_slices(zero, image_settings(zero))


def test_cross_validation_calibrates_only_on_the_folds_training_volumes(tmp_path):
    cfg = tiny_config(tmp_path, "DATASET.NUM_FOLDS=2", "DATASET.FOLD=1", "PREPROCESS_DATA.NORMALIZE_IMAGE=False")
    for kind, folder in (("image", cfg.DATASET.TRAIN.IMAGES_PATH), ("mask", cfg.DATASET.TRAIN.MASK_PATH)):
        os.makedirs(folder)
        for volume in (1, 2, 3, 4):   # sorted volumes dealt to folds 0, 1, 0, 1: fold 1 holds out 2 and 4
            for index in range(2):
                pixels = np.full((64, 64, 3), volume, np.uint8)   # the pixel value says which volume
                cv2.imwrite(os.path.join(folder, f"{kind}_{volume}_{index:04d}.png"), pixels)
    images = require_calibration_images(calibration_slices(cfg, image_settings(cfg), 16))
    assert sorted({int(image.max()) for image in images}) == [1, 3]
