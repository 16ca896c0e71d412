"""Separate output paths for runs that share one config: sweep jobs, cross-validation folds, workers.

Every run writes checkpoints and logs to the CALLBACKS paths; runs launched together would
overwrite each other's, so each gets its own subfolder of those paths. (Run directories, when
they exist, make this one folder per run.)
"""
import copy
import os

from omegaconf import DictConfig, OmegaConf

# Output paths of a training run: folders, then files.
OUTPUT_DIR_KEYS = ("CALLBACKS.MODEL_CHECKPOINT.PATH", "CALLBACKS.BACKUP_AND_RESTORE.PATH",
                   "CALLBACKS.TENSORBOARD.PATH")
OUTPUT_FILE_KEYS = ("CALLBACKS.CSV_LOGGER.PATH", "CALLBACKS.TIMING.PATH")


def with_outputs_in(cfg: DictConfig, folder: str, root: str = None) -> DictConfig:
    """A copy of cfg whose output paths sit in a `folder` subfolder (dir/folder, dir/folder/file.csv).

    With root, the paths move under root/folder instead, keeping only their last component.
    """
    cfg = copy.deepcopy(cfg)
    for key in OUTPUT_DIR_KEYS + OUTPUT_FILE_KEYS:
        path = OmegaConf.select(cfg, key)
        parent, name = os.path.split(os.path.normpath(path))
        if root is not None:
            moved = os.path.join(root, folder, name)
        elif key in OUTPUT_DIR_KEYS:
            moved = os.path.join(path, folder)
        else:
            moved = os.path.join(parent, folder, name)
        OmegaConf.update(cfg, key, moved)
    return cfg


def sweep_job_config(cfg: DictConfig) -> DictConfig:
    """In a Hydra multirun (`-m`), cfg with outputs in job_<n>; otherwise cfg unchanged."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return cfg
    job_number = HydraConfig.get().job.num
    job_cfg = with_outputs_in(cfg, f"job_{job_number}")
    print(f"sweep job {job_number}: {HydraConfig.get().job.override_dirname or 'defaults'}; "
          f"outputs in {job_cfg.CALLBACKS.MODEL_CHECKPOINT.PATH}")
    return job_cfg
