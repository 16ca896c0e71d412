"""Timing callback and latency statistics."""
import json

import numpy as np
import pytest

from callbacks import timing_callback
from callbacks.timing_callback import TimingCallback, format_stats, latency_stats


def test_latency_stats_hand_computed():
    stats = latency_stats([0.1, 0.2, 0.3, 0.4], batch_size=2)
    assert stats["latency_ms_mean"] == pytest.approx(250.0)
    assert stats["throughput_img_s"] == pytest.approx(8.0)      # 8 images in 1.0 s
    assert stats["latency_ms_p90"] == pytest.approx(np.percentile([100, 200, 300, 400], 90))
    assert stats["steps"] == 4
    assert "250.0 ms/batch" in format_stats(stats)
    with pytest.raises(ValueError):
        latency_stats([], 2)


def test_timing_callback_skips_warmup_and_writes_json(tmp_path, monkeypatch, capsys):
    # train begins; 4 batches (begin, end); validation and the rest take 3 s more before train ends
    clock = iter(np.cumsum([0.0, 1.0, 5.0, 0.0, 0.5, 0.0, 0.25, 0.0, 0.25, 3.0]).tolist())
    monkeypatch.setattr(timing_callback.time, "perf_counter", lambda: next(clock))
    path = tmp_path / "timing.json"
    callback = TimingCallback(batch_size=4, warmup_steps=1, json_path=str(path))
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for step in range(4):
        callback.on_train_batch_begin(step)
        callback.on_train_batch_end(step)
    callback.on_epoch_end(0)
    callback.on_train_end()
    written = json.loads(path.read_text())
    assert written["steps"] == 3                      # the 5 s warm-up step is left out
    assert written["latency_ms_mean"] == pytest.approx(1000 / 3)
    assert written["throughput_img_s"] == pytest.approx(12.0)   # 12 images in 1 s
    assert written["epochs"] == [{"epoch": 1, "throughput_img_s": pytest.approx(12.0)}]
    # the recipe's total training time: from the start to the end of fit, everything included
    assert written["total_training_time_s"] == pytest.approx(10.0) == callback.total_seconds
    assert written["total_training_time"] == "0:00:10"
    out = capsys.readouterr().out
    assert "training throughput 12.0 img/s" in out and "latency avg" in out
