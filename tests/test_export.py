"""The lean inference graph, and SavedModel / ONNX / OpenVINO exports that give Keras' answers."""
import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from callbacks.checkpoint import checkpoint_path
from deploy.export import ONNX_TOLERANCE, check_formats, copy_in_precision, export_model, onnx_max_difference
from deploy.run_int8 import stored_int8, weights_digest
from models.inference_graph import final_output_model
from models.model_factory import FINAL_OUTPUT, prepare_model
from tests.helpers import run_cli, run_main, tiny_config, trained_run_args
from utils.errors import UserError

OPENVINO = importlib.util.find_spec("openvino") is not None   # optional: tested when installed


def images(count=2, size=64):
    return np.random.default_rng(1).random((count, size, size, 3), dtype=np.float32)


@pytest.mark.parametrize("model_type", ["unet3plus_deepsup", "unet3plus_deepsup_cgm"])
def test_lean_graph_has_one_output_equal_to_the_full_models_d1(tmp_path, model_type):
    model = prepare_model(tiny_config(tmp_path, f"MODEL.TYPE={model_type}"))
    lean = final_output_model(model)
    assert len(lean.outputs) == 1
    names = {layer.name for layer in lean.layers}
    side_heads = set(model.output_names) - {FINAL_OUTPUT, "cls"}
    assert side_heads == {"d2", "e3"} and side_heads.isdisjoint(names)   # side heads dropped (3 levels: d2, e3)
    assert ("cls" in names) is (model_type == "unet3plus_deepsup_cgm")  # the CGM gate still needs its classifier
    assert lean.count_params() < model.count_params()
    batch = images()
    np.testing.assert_allclose(lean(batch), model(batch)[FINAL_OUTPUT], atol=1e-6)


@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_float32_copy_of_a_bfloat16_model_has_the_same_weights(tmp_path):
    cfg = tiny_config(tmp_path, "OPTIMIZATION.AMP=bfloat16")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = prepare_model(cfg)
    copy = copy_in_precision(model, "float32", lambda: prepare_model(cfg))
    assert copy.dtype_policy.name == "float32" and model.dtype_policy.name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"   # restored after the copy
    for ours, theirs in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert copy_in_precision(copy, "float32") is copy                      # nothing to rebuild
    with pytest.raises(ValueError, match="needs `rebuild`"):
        copy_in_precision(copy, "bfloat16")


@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_a_bfloat16_copy_of_a_float32_model_keeps_the_builders_float32_layers(tmp_path):
    """Which layers stay float32 under mixed precision (softmax, bilinear upsampling, the CGM gate) is the
    builder's choice: the copy is the same network built again, with the same outputs as a model built so."""
    cfg = tiny_config(tmp_path, "MODEL.TYPE=unet3plus_deepsup_cgm")
    model = prepare_model(cfg)
    copy = copy_in_precision(model, "bfloat16", lambda: prepare_model(cfg))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    built = prepare_model(cfg)
    built.set_weights(model.get_weights())
    assert [layer.dtype_policy.name for layer in copy.layers] == [layer.dtype_policy.name for layer in built.layers]
    assert {"float32", "mixed_bfloat16"} <= {layer.dtype_policy.name for layer in copy.layers}
    batch = images()
    np.testing.assert_array_equal(copy(batch)["d1"], built(batch)["d1"])


def test_unknown_export_format_names_the_choices():
    with pytest.raises(UserError, match="^EXPORT.FORMATS must be one of saved_model, onnx, onnx_int8, openvino; got 'tflite'$"):
        check_formats(["onnx", "tflite"])


@pytest.mark.slow
def test_export_writes_saved_model_onnx_and_openvino_that_match_keras(tmp_path):
    cfg = tiny_config(tmp_path, "MODEL.TYPE=unet3plus_deepsup_cgm")
    model = prepare_model(cfg)
    formats = ["saved_model", "onnx"] + (["openvino"] if OPENVINO else [])
    paths = export_model(model, str(tmp_path / "export"), formats)
    batch = images(3)
    expected = np.asarray(model(batch)[FINAL_OUTPUT])
    labels = np.argmax(expected, axis=-1)

    served = tf.saved_model.load(paths["saved_model"]).signatures["serving_default"](image=tf.constant(batch))
    assert sorted(served) == ["labels", "probabilities"]
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-6)
    np.testing.assert_array_equal(served["labels"], labels)

    import onnxruntime

    session = onnxruntime.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    probabilities, onnx_labels = session.run(["probabilities", "labels"], {"image": batch})
    assert np.max(np.abs(probabilities - expected)) < ONNX_TOLERANCE
    assert onnx_max_difference(model, paths["onnx"], batch) < ONNX_TOLERANCE
    assert np.mean(onnx_labels == labels) > 0.999           # only exact probability ties could flip

    if not OPENVINO:
        return
    import openvino

    compiled = openvino.Core().compile_model(paths["openvino"], "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled({"image": batch})
    assert np.max(np.abs(result[compiled.output("probabilities")] - expected)) < ONNX_TOLERANCE


@pytest.mark.slow
@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_bfloat16_saved_model_stays_close_to_float32(tmp_path):
    cfg = tiny_config(tmp_path, "OPTIMIZATION.AMP=bfloat16")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = prepare_model(cfg)
    paths = export_model(model, str(tmp_path / "export"), ["saved_model", "onnx"], rebuild=lambda: prepare_model(cfg))
    batch = images()
    served = tf.saved_model.load(paths["saved_model"]).signatures["serving_default"](image=tf.constant(batch))
    float32 = copy_in_precision(model, "float32", lambda: prepare_model(cfg))
    assert served["probabilities"].dtype == tf.float32
    difference = np.max(np.abs(served["probabilities"].numpy() - np.asarray(float32(batch)[FINAL_OUTPUT])))
    assert 0 < difference < 0.05                            # bfloat16 keeps 8 bits of mantissa: close, not equal
    assert onnx_max_difference(float32, paths["onnx"], batch) < ONNX_TOLERANCE   # ONNX is the float32 network


@pytest.mark.slow
def test_export_script_reports_a_bad_format_in_one_line(tmp_path):
    completed = run_cli("export.py", f"WORK_DIR={tmp_path}", "EXPORT.FORMATS=[onnx,tflite]")
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: EXPORT.FORMATS must be one of saved_model, onnx, onnx_int8, openvino; got 'tflite'"]


@pytest.mark.slow
def test_export_script_writes_files_of_a_trained_model(trained, tmp_path, capfd):
    (tmp_path / "exported").mkdir()
    (tmp_path / "exported" / "model.int8.onnx").write_text("an earlier, stale export")
    capfd.readouterr()
    result = run_main("export.py", *trained_run_args(trained[0], f"EXPORT.PATH={tmp_path / 'exported'}",
                                                     "EXPORT.FORMATS=[saved_model,onnx,onnx_int8]"))
    stderr = capfd.readouterr().err + result.stderr   # TensorFlow's C++ lines go to the process's own stderr
    assert result.returncode == 0, stderr[-2000:]
    paths = dict(line.split(": ", 1) for line in result.stdout.splitlines()
                 if line.startswith(("saved_model: ", "onnx: ", "onnx_int8: ")))   # what it says it wrote
    assert sorted(paths) == ["onnx", "onnx_int8", "saved_model"]
    assert "ONNX Runtime vs Keras (float32): max |probability difference|" in result.stdout
    assert "absl::InitializeLog" not in stderr and "Starting new session" not in stderr, stderr   # grappler's INFO lines
    assert sorted(os.listdir(tmp_path / "exported")) == ["model.int8.json", "model.int8.onnx", "model.onnx",
                                                         "saved_model"]
    weights = checkpoint_path(trained[0])
    record = stored_int8(str(tmp_path / "exported"), weights)      # what the run keeps beside its own int8 model
    assert record["path"] == paths["onnx_int8"] and record["weights_sha256"] == weights_digest(weights)
    assert record["calibration_images_path"] == trained[0].DATASET.TRAIN.IMAGES_PATH
    assert len(record["calibration_images"]) == 16
    import onnxruntime

    batch = images(2)
    labels = {name: onnxruntime.InferenceSession(paths[name], providers=["CPUExecutionProvider"])
              .run(["labels"], {"image": batch})[0] for name in ("onnx", "onnx_int8")}
    assert np.mean(labels["onnx_int8"] == labels["onnx"]) > 0.95      # the stale file was replaced by a real model
    assert os.path.isfile(os.path.join(paths["saved_model"], "saved_model.pb"))
    assert os.path.isfile(paths["onnx"]) and paths["onnx"].endswith("model.onnx")
