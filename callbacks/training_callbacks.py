"""The callbacks train.py uses, built from cfg.CALLBACKS in one place."""
import os

import keras

from callbacks.checkpoint import AtomicBackupAndRestore, BestCheckpoint, checkpoint_path
from callbacks.csv_logger import CSVLogger
from callbacks.timing_callback import TimingCallback
from app.choices import choose

# CALLBACKS.EARLY_STOPPING.MONITOR -> what early stopping watches, given the checkpoint's metric: (monitor, mode)
EARLY_STOPPING_MONITORS = {
    "checkpoint": lambda checkpoint_monitor: (checkpoint_monitor, "max"),   # the validation Dice that picks the weights
    "val_loss": lambda checkpoint_monitor: ("val_loss", "min"),              # the recipe's (Keras' default)
}


def build_callbacks(cfg, monitor: str, global_batch_size: int):
    """Checkpoint (best by `monitor`, a validation Dice), CSV log, and the optional ones."""
    callbacks_cfg = cfg.CALLBACKS
    os.makedirs(callbacks_cfg.MODEL_CHECKPOINT.PATH, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(callbacks_cfg.CSV_LOGGER.PATH)), exist_ok=True)
    resuming = callbacks_cfg.BACKUP_AND_RESTORE.VALUE and os.path.isdir(callbacks_cfg.BACKUP_AND_RESTORE.PATH)
    callbacks = [
        BestCheckpoint(checkpoint_path(cfg), monitor, save_best_only=callbacks_cfg.MODEL_CHECKPOINT.SAVE_BEST_ONLY),
        CSVLogger(callbacks_cfg.CSV_LOGGER.PATH, append=callbacks_cfg.CSV_LOGGER.APPEND_LOGS or resuming),
    ]
    if callbacks_cfg.BACKUP_AND_RESTORE.VALUE:
        callbacks.append(AtomicBackupAndRestore(callbacks_cfg.BACKUP_AND_RESTORE.PATH))
    if callbacks_cfg.TENSORBOARD.VALUE:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=callbacks_cfg.TENSORBOARD.PATH))
    if callbacks_cfg.EARLY_STOPPING.VALUE:
        stop_monitor, mode = choose("CALLBACKS.EARLY_STOPPING.MONITOR", callbacks_cfg.EARLY_STOPPING.MONITOR)(monitor)
        callbacks.append(keras.callbacks.EarlyStopping(monitor=stop_monitor, mode=mode,
                                                       patience=callbacks_cfg.EARLY_STOPPING.PATIENCE))
    if callbacks_cfg.TIMING.VALUE:
        callbacks.append(TimingCallback(global_batch_size, callbacks_cfg.TIMING.WARMUP_STEPS, callbacks_cfg.TIMING.PATH))
    return callbacks
