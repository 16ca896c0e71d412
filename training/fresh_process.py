"""One training run in a process of its own, for a script that trains several (cross_validate.py's folds).

Some of TensorFlow's state is per process and outlives keras.backend.clear_session(): the precision
policy, a multi-worker strategy's collective set-up, Keras's global names. So each run gets a fresh
process, started by multiprocessing's spawn (a fork would copy this process's TF threads and state),
given plain values: the resolved config and the keys set on the command line. Its output goes where
this process's does; its own `error:` line, resume line and exit status are those of train.py.
"""
import multiprocessing
import signal
import sys
from typing import AbstractSet

from omegaconf import DictConfig, OmegaConf

INTERRUPTED = 130   # the exit status of a run stopped by Ctrl-C (128 + SIGINT), as train.py's


def train_in_fresh_process(cfg: DictConfig, explicit: AbstractSet[str] = frozenset()) -> int:
    """Train cfg's run (training.run.train) in a spawned process; returns its exit status: 0 trained,
    2 stopped by a UserError (its `error:` line printed), 130 stopped by Ctrl-C.

    Ctrl-C in a terminal reaches both processes (one process group): the run stops at the batch end and
    prints its resume line while this one waits for it. One pressed while the child is still starting
    (its imports, where it would be a traceback) is held there and stops it as soon as it can take it.
    A SIGINT sent to this process alone lets the run end as it would, then returns 130 all the same.
    """
    context = multiprocessing.get_context("spawn")
    interrupted = context.Event()
    child = context.Process(target=_train, args=(OmegaConf.to_container(cfg, resolve=True), sorted(explicit),
                                                 interrupted), name=f"train {cfg.RUN_DIR}")
    sys.stdout.flush()
    sys.stderr.flush()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)   # inherited through exec: ignored while it starts
    try:
        child.start()
        signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        child.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    if child.exitcode < 0:   # killed (the out-of-memory killer's SIGKILL): it could say nothing itself
        print(f"error: the training of {cfg.RUN_DIR} was killed by {signal.Signals(-child.exitcode).name}",
              file=sys.stderr)
        return 128 - child.exitcode   # as a shell reports it
    if child.exitcode == 0 and interrupted.is_set():   # a SIGINT sent to this process only: the run had ended
        print(f"\ninterrupted (once {cfg.RUN_DIR} had trained)", file=sys.stderr)
        return INTERRUPTED
    return child.exitcode


def _train(values: dict, explicit: list, interrupted) -> None:
    """The spawned process: the run as train.py makes it, from the config's values."""
    signal.signal(signal.SIGINT, signal.default_int_handler)   # from here on, Ctrl-C is handled as in train.py
    try:
        if interrupted.is_set():   # pressed while this process was starting
            raise KeyboardInterrupt
        import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)
        from app.config import validate_config
        from training.run import train
        from utils.errors import exit_on_user_error

        with exit_on_user_error():
            cfg = OmegaConf.create(values)
            OmegaConf.set_struct(cfg, True)   # as Hydra gives it: a misspelt key is an error, not a new key
            validate_config(cfg)
            train(cfg, set(explicit))
    except KeyboardInterrupt:   # before fit or after it (inside it, train prints the resume line)
        print("\ninterrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
