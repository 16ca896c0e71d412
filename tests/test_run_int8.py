"""A trained run is all inference needs: int8 calibrated once and kept in the run; INFERENCE.BACKEND=auto."""
import copy
import importlib.util
import json
import os
import shutil

import pytest

from callbacks.checkpoint import checkpoint_path
from deploy.backends import auto_backend, inference_backend, inference_settings
from deploy.quantize import calibration_slices
from deploy.run_int8 import INT8_FILE, RECORD_FILE, run_int8, stored_int8
from run_dirs.loading import TrainedModel, load_trained
from tests.helpers import run_main, tiny_config
from utils.errors import UserError
from runtime.devices import cpu_has_amx_int8, cpu_has_int8_dot
from volumes.slices import image_settings


def settings_of(cfg):
    """inference_settings for a config whose model is not loaded (no run needed): its weights file as the run
    names it, the slices int8 is calibrated on as training reads them."""
    return inference_settings(cfg, TrainedModel(None, checkpoint_path(cfg), None), image_settings(cfg))


@pytest.mark.parametrize("int8,bf16,gpus,held,expected", [
    (True, True, [], True, ("onnxruntime", "int8")),        # VNNI CPU, int8 model in the run
    (True, False, [], False, ("keras", "float32")),         # VNNI, but nothing to calibrate on: never needs data
    (True, True, [], False, ("keras", "bfloat16")),
    (False, True, [], True, ("keras", "bfloat16")),         # no int8 dot products: int8 does not pay
    (False, False, [], True, ("keras", "float32")),
    (True, True, [(8, 0)], True, ("keras", "bfloat16")),    # Ampere+ GPU
    (True, True, [(7, 5)], True, ("keras", "float32")),     # float16 has no tested Dice parity
])
def test_auto_picks_the_fastest_tested_backend(int8, bf16, gpus, held, expected):
    name, precision, why = auto_backend(lambda: held, int8, bf16, gpus)
    assert (name, precision) == expected and why
    if int8 and not held and not gpus:
        assert "no training slices here to calibrate one" in why


@pytest.mark.parametrize("openvino,held,expected", [
    (True, True, ("openvino", "int8")),       # AMX CPU with OpenVINO installed: OpenVINO runs the run's int8 model
    (False, True, ("onnxruntime", "int8")),   # ... without OpenVINO: ONNX Runtime runs it
    (True, False, ("keras", "bfloat16")),     # no int8 model and nothing to calibrate on
])
def test_auto_runs_int8_with_openvino_on_amx_cpus(monkeypatch, openvino, held, expected):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: (object() if openvino else None) if name == "openvino" else real_find_spec(name))
    assert auto_backend(lambda: held, True, True, [], cpu_amx_int8=True)[:2] == expected


def test_auto_asks_whether_int8_is_ready_only_on_cpus():
    """Whether int8 is ready reads the run's int8 record and lists the training slices: not for a GPU."""
    def never():
        raise AssertionError("asked on a GPU machine")

    assert auto_backend(never, True, True, [(8, 0)])[:2] == ("keras", "bfloat16")


def test_auto_is_ready_for_int8_where_the_training_slices_are(tmp_path, monkeypatch):
    """No int8 model in the run, but training slices here: auto picks int8 and the settings say what it is
    calibrated on; without them, Keras (tests above: the rule itself)."""
    import deploy.backends as backends

    monkeypatch.setattr(backends, "cpu_has_int8_dot", lambda: True)
    monkeypatch.setattr(backends, "cpu_has_amx_int8", lambda: False)
    monkeypatch.setattr(backends, "gpu_compute_capabilities", lambda: [])
    cfg = tiny_config(tmp_path, f"RUN_DIR={tmp_path}/run", "INFERENCE.BACKEND=auto", "EXPORT.CALIBRATION_IMAGES=2")
    assert settings_of(cfg).backend == "keras"
    os.makedirs(cfg.DATASET.TRAIN.IMAGES_PATH)
    for index in range(3):
        open(os.path.join(cfg.DATASET.TRAIN.IMAGES_PATH, f"image_0_{index:04d}.png"), "wb").close()
    settings = settings_of(cfg)
    assert (settings.backend, settings.precision, settings.auto) == ("onnxruntime", "int8", True)
    assert settings.calibration.images_path == cfg.DATASET.TRAIN.IMAGES_PATH
    assert [os.path.basename(path) for path in settings.calibration.paths] == ["image_0_0000.png", "image_0_0002.png"]
    assert (settings.export_path, settings.weights_path) == (cfg.EXPORT.PATH, checkpoint_path(cfg))


def test_amx_int8_is_read_from_cpuinfo_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: GenuineIntel\nflags\t\t: avx512_vnni amx_tile amx_int8 amx_bf16\n")
    assert cpu_has_amx_int8(str(cpuinfo)) and cpu_has_int8_dot(str(cpuinfo))
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: avx512_vnni avx512_bf16\n")
    assert not cpu_has_amx_int8(str(cpuinfo)) and cpu_has_int8_dot(str(cpuinfo))


def test_a_named_backend_is_resolved_as_before(tmp_path):
    settings = settings_of(tiny_config(tmp_path, "INFERENCE.BACKEND=onnxruntime:int8"))
    assert (settings.backend, settings.precision, settings.why, settings.auto) == ("onnxruntime", "int8", "", False)
    settings = settings_of(tiny_config(tmp_path, "INFERENCE.BACKEND=keras", "OPTIMIZATION.AMP=bfloat16",
                                       "OPTIMIZATION.XLA=True"))
    assert (settings.backend, settings.precision, settings.jit_compile, settings.calibration, settings.weights_path) == (
        "keras", "bfloat16", True, None, None)
    with pytest.raises(UserError, match="^INFERENCE.BACKEND must be one of auto, keras, .*; got 'fast'$"):
        settings_of(tiny_config(tmp_path, "INFERENCE.BACKEND=fast"))


@pytest.mark.slow
def test_int8_is_calibrated_once_kept_in_the_run_and_used_where_the_training_data_is_not(trained, tmp_path, capsys):
    cfg = copy.deepcopy(trained[0])
    cfg.INFERENCE.BACKEND = "onnxruntime:int8"
    export_dir = cfg.EXPORT.PATH
    assert export_dir.startswith(cfg.RUN_DIR + os.sep) and not os.path.exists(os.path.join(export_dir, INT8_FILE))
    try:
        trained_model = load_trained(cfg)
        model = trained_model.model
        with inference_backend(inference_settings(cfg, trained_model, image_settings(cfg)), model):
            pass
        out = capsys.readouterr().out
        assert "int8: calibrating on 16 training slices of " in out
        assert f"inference: onnxruntime, int8; int8 model {export_dir}/{INT8_FILE}, calibrated on 16 slices" in out
        record = json.loads(open(os.path.join(export_dir, RECORD_FILE)).read())
        assert len(record["calibration_images"]) == 16
        assert record["calibration_images_path"] == cfg.DATASET.TRAIN.IMAGES_PATH

        clinic = tmp_path / "clinic"          # another folder: the run, a CT, no training data
        clinic.mkdir()
        ct = shutil.copy(os.path.join(cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH, "volume-3.nii"), clinic)
        completed = run_main("predict.py", f"RUN_DIR={cfg.RUN_DIR}", f"WORK_DIR={clinic}", f"PREDICTION.VOLUMES={ct}",
                             "INFERENCE.BACKEND=onnxruntime:int8", "PREDICTION.ROI=True",
                             f"PREDICTION.RESULTS_PATH={clinic}/out", cwd=str(clinic))
        assert completed.returncode == 0, completed.stderr
        assert "calibrating" not in completed.stdout
        assert f"inference: onnxruntime, int8; int8 model {export_dir}/{INT8_FILE}" in completed.stdout
        assert os.path.isfile(clinic / "out" / "segmentation-3.nii.gz")

        clinic_cfg = tiny_config(clinic, f"RUN_DIR={cfg.RUN_DIR}",
                                 f"CALLBACKS.MODEL_CHECKPOINT.PATH={cfg.CALLBACKS.MODEL_CHECKPOINT.PATH}",
                                 f"MODEL.WEIGHTS_FILE_NAME={cfg.MODEL.WEIGHTS_FILE_NAME}")
        weights = checkpoint_path(clinic_cfg)
        assert stored_int8(clinic_cfg.EXPORT.PATH, weights)["path"] == os.path.join(export_dir, INT8_FILE)
        if cpu_has_amx_int8() and importlib.util.find_spec("openvino") is not None:
            clinic_cfg.INFERENCE.BACKEND = "auto"
            assert settings_of(clinic_cfg)[:3] == ("openvino", "int8", "CPU with AMX int8")
        elif cpu_has_int8_dot():
            clinic_cfg.INFERENCE.BACKEND = "auto"
            assert settings_of(clinic_cfg)[:3] == ("onnxruntime", "int8", "CPU with VNNI/AMX int8")

        record["weights_sha256"] = "0" * 64   # as after training on: the int8 model no longer matches the weights
        open(os.path.join(export_dir, RECORD_FILE), "w").write(json.dumps(record))
        assert stored_int8(clinic_cfg.EXPORT.PATH, weights) is None
        with pytest.raises(UserError, match=f"has no {INT8_FILE} for these weights and DATASET.TRAIN.IMAGES_PATH="):
            run_int8(model, clinic_cfg.EXPORT.PATH, weights, calibration_slices(clinic_cfg, image_settings(clinic_cfg)))
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)   # the session's trained run, as other tests expect it
