"""Writing a trained model as a TensorFlow SavedModel, ONNX and OpenVINO IR, all from the lean graph.

Each takes an image batch (B, H, W, C) float32, prepared as for training, and gives
"probabilities" (B, H, W, K) float32 and "labels" (B, H, W) int32.
"""
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from deploy.quantize import quantize_onnx
from models.inference_graph import final_output_model
from app.choices import choose
from utils.errors import UserError, WriteError
from utils.files import os_error_reason
from app.tf_env import native_info_logs_silenced
from runtime.devices import POLICIES, precision_scope

OUTPUTS = ("probabilities", "labels")
ONNX_TOLERANCE = 1e-4   # max |probability difference|, ONNX Runtime vs float32 Keras: float rounding only
OPENVINO_PIP = "openvino==2026.4.1"   # optional (README): what to install for OpenVINO IR and its backend


class ArgmaxLabels(keras.layers.Layer):
    """Class labels as one plain ArgMax op: `keras.ops.argmax` adds a negative-zero fix (Bitcast ops)
    that probabilities never need and OpenVINO's converter cannot read."""

    def call(self, probabilities):
        return tf.argmax(probabilities, axis=-1, output_type=tf.int32)

    def compute_output_spec(self, probabilities):
        return keras.KerasTensor(probabilities.shape[:-1], dtype="int32")


def serving_model(model: keras.Model) -> keras.Model:
    """The lean graph with both served outputs: class probabilities and their argmax labels."""
    lean = final_output_model(model)
    probabilities = lean.outputs[0]
    labels = ArgmaxLabels(name="labels")(probabilities)
    return keras.Model(lean.inputs[0], {"probabilities": probabilities, "labels": labels}, name=lean.name)


def copy_in_precision(model: keras.Model, precision: str, rebuild: Optional[Callable[[], keras.Model]] = None
                      ) -> keras.Model:
    """`model` itself when it already computes in `precision`, else the same network made by `rebuild` (it
    builds the architecture afresh, in the global precision policy: models.model_factory.model_builder) in that
    precision, with `model`'s weights. Variables are float32 under every policy, so the copy is exact; a rebuild
    rather than a clone, since which layers stay float32 under mixed precision is the builder's to say."""
    if model.dtype_policy.name == POLICIES[precision]:
        return model
    if rebuild is None:
        raise ValueError(f"a {precision} copy of a {model.dtype_policy.name} model needs `rebuild`")
    with precision_scope(precision):
        copy = rebuild()
    copy.set_weights(model.get_weights())
    return copy


def export_saved_model(model: keras.Model, path: str) -> str:
    """A SavedModel directory whose `serving_default` signature maps `image` to OUTPUTS."""
    serving_model(model).export(path, format="tf_saved_model", verbose=False)
    return path


def export_onnx(model: keras.Model, path: str) -> str:
    """An ONNX file with input `image` and outputs OUTPUTS, dynamic batch size; `model` must be float32
    (Keras' rule; ONNX Runtime's CPU kernels have no bfloat16 convolutions): see copy_in_precision."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)   # its INFO lines are conversion statistics
    serving = serving_model(model)
    spec = tf.TensorSpec((None, *serving.inputs[0].shape[1:]), tf.float32, name="image")
    with native_info_logs_silenced(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="keras.src.export")   # np.object probe
        serving.export(path, format="onnx", verbose=False, input_signature=[spec])
    return path


def export_openvino(onnx_path: str, path: str) -> str:
    """OpenVINO IR (`.xml` + `.bin`) converted from the ONNX file, for OpenVINO's CPU runtime."""
    import openvino

    openvino.save_model(openvino.convert_model(onnx_path), path)
    return path


def write_saved_model(model: keras.Model, out_dir: str) -> str:
    return export_saved_model(model, os.path.join(out_dir, "saved_model"))


def write_onnx(model: keras.Model, out_dir: str) -> str:
    """model.onnx of a float32 model (see copy_in_precision)."""
    return export_onnx(model, os.path.join(out_dir, "model.onnx"))


def write_openvino(onnx_path: str, out_dir: str) -> str:
    return export_openvino(onnx_path, os.path.join(out_dir, "openvino", "model.xml"))


def write_onnx_int8(onnx_path: str, out_dir: str, images: np.ndarray) -> str:
    """model.int8.onnx: the float32 ONNX file quantized to int8, calibrated on `images` (N, H, W, C)."""
    return quantize_onnx(onnx_path, os.path.join(out_dir, "model.int8.onnx"), images)


class ModelForms:
    """A trained model in the forms that exports and backends need, each made once, when first asked for: a
    Keras copy in a precision, the float32 ONNX file and its int8 copy (ONNX export and quantization are the
    slow steps, and several formats or backends start from the same file). Files are written into `folder`.

    rebuild: builds the architecture afresh (copy_in_precision), needed when a precision other than the
    model's is asked for, ONNX's float32 included. calibration_images: what int8 is calibrated on (N, H, W, C).
    """

    def __init__(self, model: keras.Model, folder: str, rebuild: Optional[Callable[[], keras.Model]] = None,
                 calibration_images: Optional[np.ndarray] = None):
        self.model, self.folder, self.rebuild, self.calibration_images = model, folder, rebuild, calibration_images
        self._files = {}

    def keras(self, precision: str) -> keras.Model:
        return copy_in_precision(self.model, precision, self.rebuild)

    def onnx(self, precision: str = "float32") -> str:
        """The ONNX file that runs in `precision`: the int8 one for int8, else the float32 one (OpenVINO
        compiles that one in bfloat16 too)."""
        kind = "int8" if precision == "int8" else "float32"
        if kind not in self._files:
            if kind == "int8" and self.calibration_images is None:
                raise ValueError("an int8 ONNX file needs calibration_images")
            self._files[kind] = (write_onnx_int8(self.onnx(), self.folder, self.calibration_images) if kind == "int8"
                                 else write_onnx(self.keras("float32"), self.folder))
        return self._files[kind]


# EXPORT.FORMATS name -> how export_model writes it from the model's forms (into forms.folder)
EXPORT_FORMATS = {
    "saved_model": lambda forms: write_saved_model(forms.model, forms.folder),
    "onnx": lambda forms: forms.onnx("float32"),
    "onnx_int8": lambda forms: forms.onnx("int8"),
    "openvino": lambda forms: write_openvino(forms.onnx("float32"), forms.folder),
}


def check_formats(formats) -> None:
    """A UserError naming the choices for an unknown EXPORT.FORMATS entry or a missing converter package."""
    if not formats:
        raise UserError(f"EXPORT.FORMATS is empty; choose one or more of {', '.join(EXPORT_FORMATS)}")
    for name in formats:
        choose("EXPORT.FORMATS", name)
    if "openvino" in formats and importlib.util.find_spec("openvino") is None:
        raise UserError(f"EXPORT.FORMATS: openvino is not installed (pip install {OPENVINO_PIP}); "
                        f"choices without it: {', '.join(n for n in EXPORT_FORMATS if n != 'openvino')}")


def export_model(model: keras.Model, out_dir: str, formats, calibration_images: Optional[np.ndarray] = None,
                 rebuild: Optional[Callable[[], keras.Model]] = None) -> dict:
    """Write `model` in each of `formats` under out_dir; returns {format: path}.

    The SavedModel computes in the model's own precision; ONNX and OpenVINO IR are float32 files (a mixed
    precision model is copied by `rebuild` first; OpenVINO may still run them in bfloat16:
    INFERENCE_PRECISION_HINT); onnx_int8 is calibrated on `calibration_images` (N, H, W, C float32).
    """
    check_formats(formats)
    os.makedirs(out_dir, exist_ok=True)
    # fresh: no file of an earlier export is reused; named by pid, so sweep_partial_files removes it after a kill
    staging = tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-export-", dir=out_dir)
    try:
        forms = ModelForms(model, staging, rebuild, calibration_images)   # one float32 ONNX file for all that need it
        staged = {name: EXPORT_FORMATS[name](forms) for name in formats}
        return {name: move_into_place(path, staging, out_dir) for name, path in staged.items()}
    except (OSError, tf.errors.OpError) as err:
        reason = os_error_reason(err) if isinstance(err, OSError) else " ".join(err.message.split())[:200]
        if isinstance(err, tf.errors.OpError) and not any(text in reason for text in IO_FAILURES):
            raise
        raise WriteError(f"cannot write the export into {out_dir} ({reason}): the files of an earlier export there "
                         f"are intact", out_dir, reason) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# How TensorFlow's file errors (SavedModel) say that the disk failed, rather than the graph.
IO_FAILURES = ("No space left on device", "Input/output error", "Read-only file system", "Disk quota exceeded")


def move_into_place(path: str, staging: str, out_dir: str) -> str:
    """Move what `path` lies in (its top entry below staging: a file or a folder) to out_dir, replacing
    an earlier export of it only once the new one is complete; returns path's new location."""
    relative = os.path.relpath(path, staging)
    top = relative.split(os.sep)[0]
    source, target = os.path.join(staging, top), os.path.join(out_dir, top)
    old = None
    if os.path.isdir(target) and not os.path.islink(target):
        old = os.path.join(staging, f".old-{top}")
        os.replace(target, old)
    try:
        os.replace(source, target)
    except OSError:
        if old is not None:   # put the earlier export back before the staging folder is removed
            os.replace(old, target)
        raise
    return os.path.join(out_dir, relative)


def onnx_max_difference(model: keras.Model, onnx_path: str, images: np.ndarray) -> float:
    """Largest |probability difference| between ONNX Runtime on onnx_path and `model`'s lean graph in Keras."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    from_onnx = session.run(["probabilities"], {"image": images})[0]
    from_keras = np.asarray(final_output_model(model)(images, training=False), dtype=np.float32)
    return float(np.max(np.abs(from_onnx - from_keras)))
