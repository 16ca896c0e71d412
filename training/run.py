"""One training run: its run folder, the prepared data's recipe, fit with every callback, the curves.

train.py calls it as a Hydra task, cross_validate.py once per fold (training.fresh_process). What
the command line set (`explicit`: run_dirs.run_dir.command_line_keys) and a Hydra multirun job's
folder (`job_dir`) are read by the script and passed in, so this runs the same outside a Hydra app.
"""
import os
import sys
from typing import AbstractSet, Optional

import keras
from omegaconf import DictConfig, OmegaConf

from app.config import validate_config
from app.paths import require_paths
from callbacks.checkpoint import backed_up_epochs
from callbacks.interrupt import interrupt_at_batch_end
from callbacks.timing_callback import TimingCallback, format_duration
from callbacks.training_callbacks import build_callbacks
from data_generators.data_generator import get_data_generator
from data_sets.manifest import adopt_recipe
from data_sets.kinds import apply_description, check_description, described_values
from figures.plots import plot_training_curves
from models.model_factory import build_compiled_model, make_targets, model_levels, monitored_metric
from run_dirs.run_dir import close_run, discard_unstarted_run, is_run_dir, open_run, prepare_run, resume_command
from runtime.cluster import is_chief, worker_outputs
from runtime.devices import configure_precision, get_strategy
from runtime.seed import set_seed
from utils.errors import UserError, WriteError


def fit(cfg: DictConfig, strategy, train_feed, val_feed) -> keras.callbacks.History:
    """Build the model (restored from the run's backup when resuming) and train it, callbacks and all.

    The returned history carries `total_training_seconds` (None without CALLBACKS.TIMING).
    """
    model = build_compiled_model(cfg, strategy)
    monitor = monitored_metric(model, cfg.CALLBACKS.MODEL_CHECKPOINT.MONITOR)
    callbacks = [*build_callbacks(cfg, monitor, train_feed.global_batch_size), *train_feed.callbacks]
    print(f"training {model.name}: {model.count_params():,} parameters, {train_feed.steps} steps/epoch, "
          f"global batch {train_feed.global_batch_size}, generator {cfg.DATA_GENERATOR_TYPE}, "
          f"AMP={cfg.OPTIMIZATION.AMP}, XLA={cfg.OPTIMIZATION.XLA}")
    with interrupt_at_batch_end() as interrupt:   # last: the epoch's checkpoint and backup are written first
        history = model.fit(train_feed.data, steps_per_epoch=train_feed.steps, epochs=cfg.HYPER_PARAMETERS.EPOCHS,
                            validation_data=val_feed.data, validation_steps=val_feed.steps,
                            callbacks=[*callbacks, interrupt],
                            shuffle=False,  # the generators shuffle per epoch themselves (EpochSampler)
                            verbose=cfg.VERBOSE)
    timing = next((c for c in callbacks if isinstance(c, TimingCallback)), None)
    history.total_training_seconds = timing.total_seconds if timing else None
    return history


def adopt_prepared_recipe(cfg: DictConfig, explicit: AbstractSet[str] = frozenset()) -> dict:
    """Train with the HU window, size and slices the prepared data was made with (its manifest.json), in place.

    Recorded in the run's config.yaml, so evaluate.py and predict.py window CTs as the model learned.
    A key in `explicit` (set on the command line) that contradicts the manifest is refused.
    """
    folders = [cfg.DATASET.TRAIN.IMAGES_PATH]
    if cfg.DATASET.NUM_FOLDS <= 1:
        folders.append(cfg.DATASET.VAL.IMAGES_PATH)
    folders = [folder for folder in folders if folder]   # data=images: no VAL folder, and no preparation step
    resumed = cfg.RUN_DIR if is_run_dir(cfg.RUN_DIR) else None
    adopted = adopt_recipe(cfg, folders, set(explicit) - {"RUN_DIR"}, trained_run=resumed)
    validate_config(cfg)
    return adopted


def refuse_finished_run(cfg: DictConfig) -> None:
    """A resumed run whose backup holds all HYPER_PARAMETERS.EPOCHS: one line, instead of an empty fit."""
    if not cfg.CALLBACKS.BACKUP_AND_RESTORE.VALUE:
        return
    done, epochs = backed_up_epochs(cfg.CALLBACKS.BACKUP_AND_RESTORE.PATH), cfg.HYPER_PARAMETERS.EPOCHS
    if done >= epochs:
        raise UserError(f"run {cfg.RUN_DIR} has already trained {done} epochs (HYPER_PARAMETERS.EPOCHS={epochs}): "
                        f"nothing to train; to train on, raise the epochs: {resume_command(cfg)} "
                        f"HYPER_PARAMETERS.EPOCHS={done + epochs}")


def follow_data_set(cfg: DictConfig, prepared: dict, explicit: AbstractSet[str] = frozenset()) -> None:
    """data=nnunet with DATA_PREPARATION.DATASET_PATH (given, or recorded with the prepared slices): the class
    names, regions and channels of its dataset.json, in place, so the run's config.yaml records them. The slices
    must have been prepared with them, and a resumed run trained on them; else one line (as for a key in
    `explicit`, set on the command line, that contradicts them)."""
    if not OmegaConf.select(cfg, "DATA_PREPARATION.DATASET_PATH", default=None):
        return
    if is_run_dir(cfg.RUN_DIR):
        check_description(cfg, cfg.RUN_DIR)
        return
    for key, value in described_values(cfg).items():
        if key in prepared and prepared[key] != value:
            raise UserError(f"the slices in {cfg.DATASET.TRAIN.IMAGES_PATH} were prepared with {key}={prepared[key]}, "
                            f"but {cfg.DATA_PREPARATION.DATASET_PATH} now describes {value}: prepare the data again "
                            f"(python data_preparation/preprocess_data.py)")
    apply_description(cfg, set(explicit))
    validate_config(cfg)


def train(cfg: DictConfig, explicit: AbstractSet[str] = frozenset(),
          job_dir: Optional[str] = None) -> keras.callbacks.History:
    """The whole run train.py makes: a new run folder (or the one RUN_DIR names, resumed), trained, its curves.

    `explicit`: the keys set on the command line (they win over a resumed run's settings, and are refused
    where they contradict the prepared data); `job_dir`: a Hydra multirun job's own folder, the new run's.
    Ctrl-C stops at the batch end with the resume command and exit status 130; a full disk says how to go on.
    """
    prepare_run(cfg, explicit, job_dir)
    follow_data_set(cfg, adopt_prepared_recipe(cfg, explicit), explicit)
    refuse_finished_run(cfg)
    require_paths(cfg, write_dirs=["CALLBACKS.MODEL_CHECKPOINT.PATH", "CALLBACKS.BACKUP_AND_RESTORE.PATH",
                                   "CALLBACKS.TENSORBOARD.PATH"],
                  write_files=["CALLBACKS.CSV_LOGGER.PATH", "CALLBACKS.TIMING.PATH"],
                  read_files=["MODEL.BACKBONE.WEIGHTS"])
    set_seed(cfg.SEED)
    configure_precision(cfg)
    strategy = get_strategy(cfg)
    cfg, cleanup_worker_outputs = worker_outputs(cfg, strategy)   # multi-worker: only the chief writes
    model_type, levels = cfg.MODEL.TYPE, model_levels(cfg)

    def target_fn(masks):
        return make_targets(model_type, masks, levels)

    train_feed = get_data_generator(cfg, "train", strategy, target_fn)
    val_feed = get_data_generator(cfg, "val", strategy, target_fn)
    if is_chief(strategy):   # workers write to temporary folders (worker_outputs)
        print(f"run directory: {open_run(cfg)}")
    try:
        history = fit(cfg, strategy, train_feed, val_feed)
    except KeyboardInterrupt:
        print(f"\ninterrupted; resume with: {resume_command(cfg)}", file=sys.stderr)
        raise SystemExit(130) from None
    except WriteError as err:   # a full disk while saving: what is intact, and how to go on once there is space
        if discard_unstarted_run(cfg):
            raise
        raise WriteError(f"{err}; free space, then resume with: {resume_command(cfg)}") from None
    except BaseException:
        discard_unstarted_run(cfg)   # a start that failed before any weights leaves no run folder behind
        raise
    finally:
        cleanup_worker_outputs()
        close_run(cfg)
    csv_path = cfg.CALLBACKS.CSV_LOGGER.PATH
    if is_chief(strategy) and os.path.isfile(csv_path):
        plot_path = os.path.splitext(csv_path)[0] + ".png"
        plot_training_curves(csv_path, plot_path)
        print(f"training curves: {plot_path}")
    if is_chief(strategy) and history.total_training_seconds is not None:   # the recipe's last lines
        print(f"Total training time {format_duration(history.total_training_seconds)}")
    return history


def best_validation_dice(history: keras.callbacks.History, metric: str) -> float:
    """The best validation Dice of a run (the checkpoint's metric), the number sweepers maximise."""
    return float(max(history.history[monitored_metric(history.model, metric)]))


def sweep_job(cfg: DictConfig, explicit: AbstractSet[str] = frozenset(), job_dir: Optional[str] = None) -> float:
    """One complete run as one job of a sweep (`train.py -m`): its best validation Dice, Keras's state cleared
    so that the next job starts from a clean slate."""
    dice = best_validation_dice(train(cfg, explicit, job_dir), cfg.CALLBACKS.MODEL_CHECKPOINT.MONITOR)
    keras.backend.clear_session()
    return dice
