"""The callbacks train.py uses, built from cfg.CALLBACKS in one place."""
import os

import keras

from callbacks.csv_logger import CSVLogger
from callbacks.timing_callback import TimingCallback


def checkpoint_path(cfg) -> str:
    """Where the best weights are saved and where evaluate/predict load them from."""
    return os.path.join(cfg.CALLBACKS.MODEL_CHECKPOINT.PATH, f"{cfg.MODEL.WEIGHTS_FILE_NAME}.weights.h5")


def build_callbacks(cfg, monitor: str, global_batch_size: int):
    """Checkpoint (best by `monitor`, a validation Dice), CSV log, and the optional ones."""
    callbacks_cfg = cfg.CALLBACKS
    os.makedirs(callbacks_cfg.MODEL_CHECKPOINT.PATH, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(callbacks_cfg.CSV_LOGGER.PATH)), exist_ok=True)
    resuming = callbacks_cfg.BACKUP_AND_RESTORE.VALUE and os.path.isdir(callbacks_cfg.BACKUP_AND_RESTORE.PATH)
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            checkpoint_path(cfg), monitor=monitor, mode="max", verbose=1,
            save_best_only=callbacks_cfg.MODEL_CHECKPOINT.SAVE_BEST_ONLY,
            save_weights_only=True),
        CSVLogger(callbacks_cfg.CSV_LOGGER.PATH, append=callbacks_cfg.CSV_LOGGER.APPEND_LOGS or resuming),
    ]
    if callbacks_cfg.BACKUP_AND_RESTORE.VALUE:
        callbacks.append(keras.callbacks.BackupAndRestore(callbacks_cfg.BACKUP_AND_RESTORE.PATH))
    if callbacks_cfg.TENSORBOARD.VALUE:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=callbacks_cfg.TENSORBOARD.PATH))
    if callbacks_cfg.EARLY_STOPPING.VALUE:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, mode="max",
                                                       patience=callbacks_cfg.EARLY_STOPPING.PATIENCE))
    if callbacks_cfg.TIMING.VALUE:
        callbacks.append(TimingCallback(global_batch_size, callbacks_cfg.TIMING.WARMUP_STEPS, callbacks_cfg.TIMING.PATH))
    return callbacks
