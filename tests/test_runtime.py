"""Multi-GPU strategy, AMP and XLA switches reach the model, and a training step runs on CPU."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import one_training_step, tiny_config
from utils.errors import UserError
from runtime.devices import configure_precision, get_strategy, make_optimizer, use_xla


def test_default_strategy_without_multi_gpu(tmp_path):
    strategy = get_strategy(tiny_config(tmp_path))
    assert not isinstance(strategy, tf.distribute.MirroredStrategy)


def test_mirrored_strategy_runs_on_cpu_with_one_replica(tmp_path):
    strategy = get_strategy(tiny_config(tmp_path, "USE_MULTI_GPUS.VALUE=True", "USE_MULTI_GPUS.GPU_IDS=-1"))
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_unknown_gpu_ids_are_reported(tmp_path):
    with pytest.raises(UserError, match="GPU_IDS"):
        get_strategy(tiny_config(tmp_path, "USE_MULTI_GPUS.VALUE=True", "USE_MULTI_GPUS.GPU_IDS=[0,3]"))


@pytest.mark.slow
@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_amp_sets_mixed_policy_loss_scaling_and_float32_outputs(tmp_path):
    """float16 with loss scaling, as the recipe's AMP trains its UNet 3+ on a GPU (every model type's outputs stay
    float32: test_models.py; the deep-supervision CGM model trains under AMP in test_pipeline.py)."""
    cfg = tiny_config(tmp_path, "OPTIMIZATION.AMP=float16", "INPUT.HEIGHT=32", "INPUT.WIDTH=32")
    assert configure_precision(cfg) == "mixed_float16"
    model, logs = one_training_step(cfg)
    assert model.dtype_policy.name == "mixed_float16"
    assert any(layer.compute_dtype == "float16" for layer in model.layers)
    assert all(output.dtype == "float32" for output in model.outputs)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(logs["loss"])


def test_amp_off_keeps_float32(tmp_path):
    cfg = tiny_config(tmp_path, "OPTIMIZATION.AMP=False")
    assert configure_precision(cfg) == "float32"
    assert not isinstance(make_optimizer(cfg), keras.optimizers.LossScaleOptimizer)


def test_xla_flag_is_read_from_the_config(tmp_path):
    # a training under XLA runs in tests/test_pipeline.py::test_train_with_every_switch_on_cpu
    assert use_xla(tiny_config(tmp_path, "OPTIMIZATION.XLA=True")) is True
    assert use_xla(tiny_config(tmp_path, "OPTIMIZATION.XLA=False")) is False
