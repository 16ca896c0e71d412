"""Two workers on localhost (CPU) train under MultiWorkerMirroredStrategy and end with the same weights.

Each worker is its own process, as on two machines; TF_CONFIG tells each which one it is.
"""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from data_generators.dali_data_generator import dali_import_error
from runtime.cluster import parse_tf_config
from tests.helpers import run_main
from utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER_SCRIPT = r"""
import sys
import numpy as np
from tests.helpers import workdir_config
from training.run import train

work_dir, prepared, raw, generator, out = sys.argv[1:6]
cfg = workdir_config(work_dir, prepared, raw, "USE_MULTI_GPUS.VALUE=True", "USE_MULTI_GPUS.STRATEGY=multi_worker",
                     "USE_MULTI_GPUS.CONNECT_TIMEOUT_S=120", f"DATA_GENERATOR_TYPE={generator}",
                     "HYPER_PARAMETERS.BATCH_SIZE=2", "CALLBACKS.TENSORBOARD.VALUE=False",
                     f"RUN_DIR={work_dir}/runs/exp1")   # every worker is given the same run folder
history = train(cfg)
np.savez(out, **{w.path.replace("/", "|"): w.numpy() for w in history.model.trainable_weights})
print("non-trainable", sorted({w.path.rsplit("/", 1)[-1] for w in history.model.non_trainable_weights}))
print("loss", history.history["loss"][0])
"""


def free_ports(count):
    """Ports the OS has just handed out and taken back, for TF's gRPC servers, which must bind them themselves
    (they refuse SO_REUSEPORT): another process could take one in between, but only in the next instant."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(addresses, index):
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def worker_env(config):
    return {**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONPATH": REPO}


@pytest.mark.slow
@pytest.mark.parametrize("generator", ["TF_GENERATOR", pytest.param("DALI_GENERATOR", marks=pytest.mark.skipif(
    dali_import_error() is not None, reason="NVIDIA DALI not installed"))])
def test_two_workers_train_to_identical_weights(tmp_path, prepared_workdir, raw_lits, generator):
    addresses = [f"localhost:{port}" for port in free_ports(2)]
    work_dir = tmp_path / "work"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(work_dir), str(prepared_workdir),
                                 str(raw_lits), generator, str(tmp_path / f"weights_{i}.npz")],
                                cwd=REPO, env=worker_env(tf_config(addresses, i)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    try:
        outputs = [worker.communicate(timeout=500) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
        assert "2 workers, 2 replica(s) in all" in out
        assert "6 steps/epoch, global batch 4" in out   # 24 training slices: 12 per worker, 2 per replica step
        # BatchNorm moving statistics follow each worker's own batches (as in TF without SyncBatchNorm)
        assert "non-trainable ['moving_mean', 'moving_variance']" in out
    weights = [np.load(tmp_path / f"weights_{i}.npz") for i in range(2)]
    assert len(weights[0].files) > 10 and weights[0].files == weights[1].files
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name])
    # the chief (worker 0) writes the run folder, checkpoint and log; worker 1 only its own backup copy
    run = work_dir / "runs" / "exp1"
    assert os.path.isfile(run / "config.yaml") and os.path.isfile(run / "logs" / "training.csv")
    assert sorted(os.listdir(run / "checkpoint")) == ["model_unet3plus_unet3plus.best.json",
                                                      "model_unet3plus_unet3plus.weights.h5"]
    assert sorted(os.listdir(run)) == ["backup", "backup_worker_1", "checkpoint", "config.yaml", "logs",
                                     "train.lock"]


@pytest.mark.parametrize("text,message", [
    ("{not json", "is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'has no "cluster" object'),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "is not host:port"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "task index 2 is not in 0..1"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', '"task" must name its "type"'),
])
def test_malformed_tf_config_is_named(text, message):
    with pytest.raises(UserError, match=message):
        parse_tf_config(text)


def run_train(tmp_path, config, *overrides):
    env = {**worker_env(config), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "train.py", f"WORK_DIR={tmp_path}", "USE_MULTI_GPUS.VALUE=True",
                           "USE_MULTI_GPUS.STRATEGY=multi_worker", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)


def single_error_line(result, returncode=2):
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == returncode and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return errors[0]


@pytest.mark.slow
def test_malformed_tf_config_gives_one_line_from_the_cli(tmp_path, monkeypatch):
    """Checked before any strategy is made, so train.py runs in this process (tests/helpers.run_main); the test
    below runs it in a fresh Python, as on a worker."""
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}')
    line = single_error_line(run_main("train.py", f"WORK_DIR={tmp_path}", "USE_MULTI_GPUS.VALUE=True",
                                      "USE_MULTI_GPUS.STRATEGY=multi_worker"))
    assert "TF_CONFIG is not valid JSON" in line


@pytest.mark.slow
def test_unreachable_worker_gives_one_line_when_the_timeout_runs_out(tmp_path):
    """Worker 0 of two; worker 1 never starts: one line from the CONNECT_TIMEOUT_S watchdog, not an endless wait."""
    with socket.socket() as absent:   # worker 1's port: the OS's, held (bound, never listening) for the test
        absent.bind(("localhost", 0))
        addresses = [f"localhost:{free_ports(1)[0]}", f"localhost:{absent.getsockname()[1]}"]
        result = run_train(tmp_path, tf_config(addresses, 0), "USE_MULTI_GPUS.CONNECT_TIMEOUT_S=5")
    line = single_error_line(result, returncode=-9)   # killed by the watchdog: TF cannot be stopped mid-join
    assert "not every worker of the cluster" in line and "CONNECT_TIMEOUT_S=5" in line and addresses[1] in line
