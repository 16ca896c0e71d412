"""Inference backends that run the same trained network: Keras, ONNX Runtime (float32 or int8), OpenVINO.

BENCHMARK.BACKENDS lists entries `NAME` or `NAME:PRECISION` to compare side by side; INFERENCE.BACKEND
is the one entry evaluate.py and predict.py run. A bare NAME runs in OPTIMIZATION.AMP's precision when
the backend has it, else in its first. Every backend maps a float32 image batch to float32 class
probabilities (B, H, W, K).
"""
import contextlib
import importlib.util
import tempfile
from typing import Callable, NamedTuple, Optional, Tuple

import keras
import numpy as np

from deploy.export import OPENVINO_PIP, ModelForms
from deploy.quantize import CalibrationSlices, calibration_slices
from deploy.run_int8 import run_int8, stored_int8
from run_dirs.loading import TrainedModel
from app.choices import choose
from app.config import positive_int
from utils.errors import UserError
from inference.predict_fn import make_predict_fn
from volumes.slices import ImageSettings
from runtime.devices import cpu_has_amx_int8, cpu_has_bfloat16, cpu_has_int8_dot, gpu_compute_capabilities, precision_of


class Backend(NamedTuple):
    module: str                  # Python package it needs; "" when always there
    pip: str                     # what to install when it is missing
    precisions: Tuple[str, ...]  # first: used when the asked precision is not among them


def keras_runner(forms: ModelForms, precision: str, jit_compile: bool) -> Callable:
    predict = make_predict_fn(forms.keras(precision), jit_compile)
    return lambda images: predict(images).numpy()


def onnxruntime_runner(forms: ModelForms, precision: str, jit_compile: bool) -> Callable:
    return onnx_file_runner(forms.onnx(precision))


def onnx_file_runner(path: str) -> Callable:
    """predict(images) -> probabilities of an ONNX file on ONNX Runtime's CPU kernels."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda images: session.run(["probabilities"], {"image": images})[0]


# int8: the quantised ONNX file's int8 layers run as int8 (AMX / VNNI kernels), the rest in float32
OPENVINO_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}


def openvino_runner(forms: ModelForms, precision: str, jit_compile: bool) -> Callable:
    return openvino_file_runner(forms.onnx(precision), precision)


def openvino_file_runner(path: str, precision: str) -> Callable:
    """predict(images) -> probabilities of an ONNX file compiled by OpenVINO for this CPU."""
    import openvino

    compiled = openvino.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision]})
    request = compiled.create_infer_request()
    output = compiled.output("probabilities")
    return lambda images: request.infer({"image": images})[output]


# How each backend runs the run's own int8 ONNX file (deploy.run_int8)
INT8_FILE_RUNNERS = {"onnxruntime": onnx_file_runner,
                     "openvino": lambda path: openvino_file_runner(path, "int8")}


# name -> (what it needs, precisions it runs, how to build its predict function)
BACKENDS = {
    "keras": (Backend("", "", ("float32", "bfloat16", "float16")), keras_runner),
    "onnxruntime": (Backend("onnxruntime", "onnxruntime==1.31.1", ("float32", "int8")), onnxruntime_runner),
    "openvino": (Backend("openvino", OPENVINO_PIP, ("float32", "bfloat16", "int8")), openvino_runner),
}
AUTO = "auto"   # INFERENCE.BACKEND: the fastest backend here among those whose Dice parity is tested
# INFERENCE.BACKEND: a backend, or auto (resolved per machine by `auto_backend`)
INFERENCE_BACKENDS = {AUTO: None, **BACKENDS}


def parse_backends(entries, default_precision: str, key: str = "BENCHMARK.BACKENDS") -> list:
    """(name, precision) for each entry of the config key; a UserError names the choices for a bad one."""
    if not entries:
        raise UserError(f"{key} is empty; choose one or more of {', '.join(available_backends())} "
                        f"(optionally NAME:PRECISION)")
    parsed = []
    for entry in entries:
        name, _, precision = str(entry).partition(":")
        found = choose(key, name)
        if found is None:
            raise UserError(f"{key}: '{entry}': auto picks the precision itself; write auto alone")
        backend = found[0]
        if backend.module and importlib.util.find_spec(backend.module) is None:
            raise UserError(f"{key}: backend '{name}' is not installed (pip install {backend.pip}); "
                            f"installed choices: {', '.join(available_backends())}")
        if precision and precision not in backend.precisions:
            raise UserError(f"{key}: '{entry}': {name} runs in {', '.join(backend.precisions)}")
        if not precision:
            precision = default_precision if default_precision in backend.precisions else backend.precisions[0]
        parsed.append((name, precision))
    return parsed


def available_backends() -> list:
    """Backend names whose packages are installed here."""
    return [name for name, (backend, _) in BACKENDS.items()
            if not backend.module or importlib.util.find_spec(backend.module) is not None]


def build_runner(name: str, precision: str, forms: ModelForms,
                 jit_compile: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """predict(images) -> probabilities for one parsed backend entry, running `forms`' model (Keras in
    `precision`, or its ONNX file: several backends given the same forms share that file)."""
    return BACKENDS[name][1](forms, precision, jit_compile)


def inference_batch_size(cfg) -> int:
    """INFERENCE.BATCH_SIZE, checked: slices per forward pass when whole CTs are segmented."""
    return positive_int(cfg.INFERENCE.BATCH_SIZE, "INFERENCE.BATCH_SIZE")


def auto_backend(int8_ready: Callable[[], bool], cpu_int8: bool, cpu_bfloat16: bool, gpus: list,
                 cpu_amx_int8: bool = False) -> Tuple[str, str, str]:
    """(name, precision, why) for INFERENCE.BACKEND=auto, from backends whose Dice on the validation CTs is
    tested against float32 (tests/test_precision.py): the run's int8 ONNX model on CPUs with int8 dot products
    when the run holds it or this machine its training slices (int8_ready(), asked on CPUs only: int8 is never
    calibrated without them), run by OpenVINO on AMX CPUs where it is installed (about 4x faster than ONNX
    Runtime there: docs/benchmarks.md), else by ONNX Runtime; bfloat16 Keras on Ampere+ GPUs and fast-bfloat16
    CPUs; else float32. float16 has no such test."""
    if gpus:
        if min(gpus) >= (8, 0):
            return "keras", "bfloat16", "GPU with bfloat16 tensor cores"
        return "keras", "float32", "GPU without bfloat16 (float16 has no tested Dice parity)"
    int8_ready = importlib.util.find_spec("onnxruntime") is not None and int8_ready()
    if cpu_amx_int8 and int8_ready and importlib.util.find_spec("openvino") is not None:
        return "openvino", "int8", "CPU with AMX int8"
    if cpu_int8 and int8_ready:
        return "onnxruntime", "int8", "CPU with VNNI/AMX int8"
    fallback = "keras", *(("bfloat16", "CPU with fast bfloat16") if cpu_bfloat16 else ("float32", "CPU"))
    if cpu_int8:
        return (*fallback[:2], f"{fallback[2]}; int8 would be faster, but the run holds no int8 model for its "
                               f"weights and there are no training slices here to calibrate one")
    return fallback


class InferenceSettings(NamedTuple):
    """What inference_backend runs, read from the config once (inference_settings)."""
    backend: str                    # a BACKENDS name
    precision: str                  # one of its precisions
    why: str                        # INFERENCE.BACKEND=auto: why it chose so; "" for a named entry
    auto: bool                      # INFERENCE.BACKEND=auto
    jit_compile: bool               # OPTIMIZATION.XLA (Keras)
    export_path: str                # EXPORT.PATH: where the run keeps its int8 model
    weights_path: Optional[str]     # int8: the run's checkpoint, which its int8 model must have been made from
    calibration: Optional[CalibrationSlices]   # int8: the slices to calibrate on when the run holds no int8 model
    rebuild: Callable[[], keras.Model]         # builds the architecture afresh: copies in another precision


def inference_settings(cfg, trained: TrainedModel, inputs: ImageSettings) -> InferenceSettings:
    """INFERENCE.BACKEND (a BENCHMARK.BACKENDS-style entry, or auto for this machine), OPTIMIZATION.AMP/XLA and
    EXPORT.PATH/CALIBRATION_IMAGES, read once for inference_backend. What other rooms own comes in as plain
    values: the trained model's weights file and rebuild (run_dirs.loading.load_trained), and how training
    slices become network inputs (volumes.slices.image_settings), for int8's calibration."""
    export_path = cfg.EXPORT.PATH
    auto = str(cfg.INFERENCE.BACKEND) == AUTO
    if auto:
        def int8_ready() -> bool:
            return bool(stored_int8(export_path, trained.weights_path) or calibration_slices(cfg, inputs, 1).paths)

        name, precision, why = auto_backend(int8_ready, cpu_has_int8_dot(), cpu_has_bfloat16(),
                                            gpu_compute_capabilities(), cpu_has_amx_int8())
    else:
        [(name, precision)] = parse_backends([cfg.INFERENCE.BACKEND], precision_of(cfg.OPTIMIZATION.AMP),
                                             "INFERENCE.BACKEND")
        why = ""
    int8 = precision == "int8"
    return InferenceSettings(name, precision, why, auto, bool(cfg.OPTIMIZATION.XLA), export_path,
                             trained.weights_path if int8 else None,
                             calibration_slices(cfg, inputs) if int8 else None, trained.rebuild)


@contextlib.contextmanager
def inference_backend(settings: InferenceSettings, model: keras.Model):
    """predict(images) -> probabilities on the settings' backend, for evaluate.py, predict.py, cross-validation
    and the notebook; prints what runs, in one line.

    int8 runs the run's own int8 model (`deploy.run_int8`: calibrated once on training slices, then kept in
    the run); other ONNX files live in a temporary folder for the block."""
    name, precision = settings.backend, settings.precision
    with tempfile.TemporaryDirectory(prefix="unet3p-inference-") as scratch:
        if precision == "int8":
            record = run_int8(model, settings.export_path, settings.weights_path, settings.calibration,
                              settings.rebuild)
            source = (f"int8 model {record['path']}, calibrated on {len(record['calibration_images'])} slices of "
                      f"{record['calibration_images_path']}")
            runner = INT8_FILE_RUNNERS[name](record["path"])
        else:
            forms = ModelForms(model, scratch, settings.rebuild)
            source, runner = "", build_runner(name, precision, forms, settings.jit_compile)
        chosen = f"{name}, {precision}"
        if settings.auto:
            chosen = f"auto -> {chosen} ({settings.why})"
        print(f"inference: {chosen}" + (f"; {source}" if source else ""), flush=True)
        yield runner
