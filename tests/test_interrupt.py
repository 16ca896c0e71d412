"""Ctrl-C during fit() is turned into a KeyboardInterrupt at the next batch end, never lost.

The signal is sent in a child process: a SIGINT sent to a pytest-xdist worker would end the worker
whenever the test does not run on its main thread.
"""
import subprocess
import sys

import pytest

from tests.helpers import REPO

SIGNALLED = """
import os, signal
from callbacks.interrupt import interrupt_at_batch_end

before = signal.getsignal(signal.SIGINT)
with interrupt_at_batch_end() as interrupt:
    os.kill(os.getpid(), signal.SIGINT)         # arrives mid-batch: nothing is raised here
    interrupt.on_train_batch_begin(0)
    print("held", flush=True)
    try:
        interrupt.on_train_batch_end(0)
    except KeyboardInterrupt:
        print("raised at the batch end", flush=True)
    print("second Ctrl-C acts at once:", signal.getsignal(signal.SIGINT) is signal.default_int_handler)
print("handler restored:", signal.getsignal(signal.SIGINT) is before)
with interrupt_at_batch_end() as interrupt:     # no signal: every hook is a no-op
    for hook in (interrupt.on_train_batch_end, interrupt.on_test_batch_end, interrupt.on_epoch_end):
        hook(0, {})
print("quiet without a signal")
"""


@pytest.mark.slow   # a second Python, importing Keras
def test_sigint_is_held_until_the_batch_end_and_the_old_handler_comes_back():
    result = subprocess.run([sys.executable, "-c", SIGNALLED], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["held", "raised at the batch end", "second Ctrl-C acts at once: True",
                                          "handler restored: True", "quiet without a signal"]
