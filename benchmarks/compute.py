"""How much arithmetic a model needs and how fast this machine's matmuls can go (the roofline's top)."""
import time

import keras
import tensorflow as tf


def conv_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass, counting 2 per multiply-add of every
    Conv2D and Dense layer (bias, batch norm, pooling, resizing and softmax, together < 1 %, are left out)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            _, height, width, _ = layer.output.shape
            total += 2 * height * width * kernel_h * kernel_w * channels_in * channels_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def matmul_peak_gflops(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """Best GFLOP/s of a size x size TensorFlow matmul in dtype ("float32" or "bfloat16") on this machine."""
    a = tf.random.uniform((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()   # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9
