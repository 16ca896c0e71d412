"""Best-weights checkpoint that survives interruption: the best value is kept beside the weights."""
import json
import os
from typing import Optional

import keras

from utils.errors import UserError
from utils.files import WEIGHTS_SUFFIX, write_atomically, write_json


def checkpoint_path(cfg) -> str:
    """Where train.py saves the best weights and evaluate/predict load them from."""
    return os.path.join(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, f"{cfg.MODEL.WEIGHTS_FILE_NAME}{WEIGHTS_SUFFIX}")


def best_state_path(weights_path: str) -> str:
    """`model.weights.h5` -> `model.best.json`: the monitored value of the weights saved there."""
    return weights_path[:-len(WEIGHTS_SUFFIX)] + ".best.json" if weights_path.endswith(WEIGHTS_SUFFIX) \
        else weights_path + ".best.json"


def read_best(weights_path: str, monitor: str) -> Optional[float]:
    """The best value recorded for these weights, or None (no file yet, or another metric)."""
    path = best_state_path(weights_path)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        state = json.load(handle)
    return float(state["best"]) if state.get("monitor") == monitor and state.get("best") is not None else None


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights when `monitor` (higher is better) beats the best so far, atomically.

    Unlike keras.callbacks.ModelCheckpoint, the best value is stored in `<name>.best.json` and
    restored at the start of training, so a resumed run does not replace its best weights with
    the first (worse) epoch after the restart. With save_best_only=False every epoch is saved.
    """

    def __init__(self, weights_path: str, monitor: str, save_best_only: bool = True, verbose: int = 1):
        super().__init__()
        self.weights_path = weights_path
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.verbose = verbose
        self.best = None

    def on_train_begin(self, logs=None):
        os.makedirs(os.path.dirname(os.path.abspath(self.weights_path)), exist_ok=True)
        self.best = read_best(self.weights_path, self.monitor) if os.path.isfile(self.weights_path) else None
        if self.best is not None and self.verbose:
            print(f"best {self.monitor} so far: {self.best:.5f} ({self.weights_path})")

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(f"BestCheckpoint: '{self.monitor}' is not among the logged metrics {sorted(logs or {})}")
        current = float(current)
        improved = self.best is None or current > self.best
        if improved:
            previous = "None" if self.best is None else f"{self.best:.5f}"
            self.best = current
            self._log(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to {current:.5f}, "
                      f"saving weights to {self.weights_path}")
        else:
            self._log(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
        if improved or not self.save_best_only:
            write_atomically(self.weights_path, lambda path: self.model.save_weights(path, overwrite=True),
                             intact=self._intact())
        if improved and self.save_best_only:
            state = {"monitor": self.monitor, "best": self.best, "epoch": epoch + 1}
            write_json(best_state_path(self.weights_path), state,
                       intact=f"the weights of epoch {epoch + 1} are saved, their {self.monitor} is not "
                              f"recorded (a resumed run may replace them by worse ones)")

    def _intact(self) -> str:
        """What a failed save leaves: the earlier best weights, as their .best.json describes them."""
        if not os.path.isfile(self.weights_path):
            return "no weights were saved yet; the run's backup (if any) is unchanged"
        try:
            with open(best_state_path(self.weights_path)) as handle:
                state = json.load(handle)
            described = f" (epoch {state['epoch']}, {state['monitor']} {float(state['best']):.5f})"
        except (OSError, ValueError, KeyError, TypeError):
            described = ""
        return f"the best weights so far{described} are intact in that file"

    def _log(self, message: str) -> None:
        if self.verbose:
            print(message)


def backed_up_epochs(backup_dir: str) -> int:
    """How many epochs a run's backup holds (0 without one): a rerun continues from there."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    try:
        with open(path) as handle:
            return int(json.load(handle).get("epoch", 0))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise UserError(f"{path} cannot be read ({' '.join(str(err).split())[:120]}): the run's backup is damaged; "
                        f"train a new run, or remove the backup folder to restart this one from epoch 1") from None


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose backup is replaced whole: Ctrl-C or a kill while saving keeps the last one.

    Keras writes `latest.weights.h5` in place, so an interruption during that write leaves a file
    that cannot be restored and the run cannot resume. The backup is kept after the last epoch so
    that rerunning a finished run with more HYPER_PARAMETERS.EPOCHS trains on instead of restarting.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, delete_checkpoint=False)

    def _save_model(self):
        intact = "the previous backup is intact (a resume starts from it)"
        write_atomically(self._weights_path, lambda path: self.model.save_weights(path, overwrite=True), intact=intact)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen}
        write_json(self._training_metadata_path, metadata, intact=intact)
