"""Two replicas without GPUs: the CPU is split into two logical devices under MirroredStrategy.

Runs in a subprocess because logical devices must be configured before TensorFlow starts.
"""
import pytest

from data_generators.dali_data_generator import dali_import_error
from tests.helpers import run_cli

pytestmark = pytest.mark.slow   # each test trains or iterates in its own Python process

SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tests.helpers import tiny_config
from data_generators.data_generator import get_data_generator
from models.model_factory import make_targets, model_levels
from models.model_factory import build_compiled_model

work_dir, generator = sys.argv[1], sys.argv[2]
cfg = tiny_config(work_dir, f"DATA_GENERATOR_TYPE={generator}", "HYPER_PARAMETERS.BATCH_SIZE=2")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
feed = get_data_generator(cfg, "train", strategy)
print("replicas", strategy.num_replicas_in_sync, "global_batch", feed.global_batch_size, "steps", feed.steps)
if generator == "DALI_GENERATOR":
    images, masks = next(iter(feed.data))
    shards = [m.numpy() for m in strategy.experimental_local_results(masks)]
    print("per_replica_batch", [len(s) for s in shards])
    # each replica reads its own shard: the batches differ
    print("shards_differ", not np.array_equal(shards[0], shards[1]))
levels = model_levels(cfg)
feed = get_data_generator(cfg, "train", strategy, target_fn=lambda m: make_targets(cfg.MODEL.TYPE, m, levels))
model = build_compiled_model(cfg, strategy)
history = model.fit(feed.data, steps_per_epoch=feed.steps, epochs=1, verbose=0)
print("loss_finite", bool(np.isfinite(history.history["loss"][0])))
"""


def run_script(script, *args):
    """Run a Python snippet in a fresh process (TF devices are fixed at start-up); its output."""
    completed = run_cli("-c", script, *args)
    assert completed.returncode == 0, f"exit {completed.returncode}: {completed.stderr[-3000:]}"
    return completed.stdout


def run_two_replicas(work_dir, generator):
    return run_script(SCRIPT, work_dir, generator)


def test_tf_generator_feeds_global_batches_to_two_replicas(prepared_workdir):
    out = run_two_replicas(prepared_workdir, "TF_GENERATOR")
    assert "replicas 2 global_batch 4" in out
    assert "loss_finite True" in out


@pytest.mark.skipif(dali_import_error() is not None, reason="NVIDIA DALI not installed")
def test_dali_runs_one_sharded_pipeline_per_replica(prepared_workdir):
    out = run_two_replicas(prepared_workdir, "DALI_GENERATOR")
    assert "replicas 2 global_batch 4" in out
    assert "per_replica_batch [2, 2]" in out
    assert "shards_differ True" in out
    assert "loss_finite True" in out


RECREATE_SCRIPT = r"""
import gc, sys
import keras
import tensorflow as tf
from tests.helpers import tiny_config
from data_generators.data_generator import get_data_generator

cfg = tiny_config(sys.argv[1], "DATA_GENERATOR_TYPE=DALI_GENERATOR")
strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
feed = get_data_generator(cfg, "val", strategy)
with strategy.scope():
    model = keras.Sequential([keras.Input((cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS)),
                              keras.layers.Conv2D(cfg.OUTPUT.CLASSES, 1)])
    model.compile(loss="mse")
for _ in range(40):          # each evaluate, like each epoch's validation in fit, makes a new iterator
    model.evaluate(feed.data, steps=1, verbose=0)
    gc.collect()
print("survived")
"""


@pytest.mark.skipif(dali_import_error() is not None, reason="NVIDIA DALI not installed")
def test_dali_iterators_can_be_recreated_under_mirrored_strategy(prepared_workdir):
    """Regression: a DALI dataset wrapped in a MultiDeviceIterator segfaulted when the iterator died."""
    assert "survived" in run_script(RECREATE_SCRIPT, prepared_workdir)
