"""Imported by every script before TensorFlow, to keep TF's C++ start-up log to real problems.

Without an NVIDIA GPU, TensorFlow's CUDA probe logs `E ... failed call to cuInit` as an error: the
first line a newcomer on a laptop would see, about hardware they never asked for. There C++ errors
are silenced (level 3; Python exceptions still report every real failure). With a GPU, C++ errors
stay visible (level 2, warnings off). A TF_CPP_MIN_LOG_LEVEL set by the user is kept.
"""
import contextlib
import glob
import os
import sys


def has_nvidia_device() -> bool:
    """NVIDIA device nodes: /dev/nvidia0.. on Linux, /dev/dxg under WSL2."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_device() else "3")


@contextlib.contextmanager
def native_info_logs_silenced():
    """Drop what C++ code writes to stderr inside the block, unless TF_CPP_MIN_LOG_LEVEL is 0.

    tf2onnx runs TensorFlow's graph optimizer, which logs INFO lines through absl before
    TF_CPP_MIN_LOG_LEVEL applies ("All log messages before absl::InitializeLog() ...", "Starting new
    session"): noise in every ONNX export. Python exceptions still propagate and are reported.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
