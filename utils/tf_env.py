"""Imported by every script before TensorFlow, to keep TF's C++ start-up log to real problems.

Without an NVIDIA GPU, TensorFlow's CUDA probe logs `E ... failed call to cuInit` as an error: the
first line a newcomer on a laptop would see, about hardware they never asked for. There C++ errors
are silenced (level 3; Python exceptions still report every real failure). With a GPU, C++ errors
stay visible (level 2, warnings off). A TF_CPP_MIN_LOG_LEVEL set by the user is kept.
"""
import glob
import os


def has_nvidia_device() -> bool:
    """NVIDIA device nodes: /dev/nvidia0.. on Linux, /dev/dxg under WSL2."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_device() else "3")
