"""Ctrl-C during training, delivered where it cannot be lost.

Python's default SIGINT handler raises KeyboardInterrupt in whatever Python code the main thread runs
at that instant. Under TensorFlow that is often a weakref callback or a __del__, where the interpreter
prints "Exception ignored" and carries on: training then simply continues (seen in CI, where a
500-epoch run ignored its SIGINT). Here the handler only records the signal, and a callback raises
KeyboardInterrupt at the next batch end, in ordinary code that fit() unwinds from. A second Ctrl-C
restores Python's default behaviour, for a batch that never ends.
"""
import contextlib
import signal
import threading

import keras


class InterruptAtBatchEnd(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the first batch end (training, validation) after a SIGINT."""

    def __init__(self):
        super().__init__()
        self.requested = False

    def request(self, signum=None, frame=None):
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)   # a second Ctrl-C interrupts at once

    def _raise_if_requested(self, *args, **kwargs):
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_end = _raise_if_requested


@contextlib.contextmanager
def interrupt_at_batch_end():
    """Yields the callback to pass to fit(); SIGINT is routed to it while the block runs.

    Off the main thread (where signal handlers cannot be set) the callback is inert and Python's
    default handling stays.
    """
    callback = InterruptAtBatchEnd()
    if threading.current_thread() is not threading.main_thread():
        yield callback
        return
    previous = signal.signal(signal.SIGINT, callback.request)
    try:
        yield callback
    finally:
        signal.signal(signal.SIGINT, previous)
