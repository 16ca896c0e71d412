"""Reproducible runs: one seed for Python, NumPy and TensorFlow."""
import keras


def set_seed(seed: int) -> None:
    keras.utils.set_random_seed(int(seed))
