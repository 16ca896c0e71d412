"""Train UNet3+ on the prepared PNG slices.

    python train.py MODEL.TYPE=unet3plus_deepsup HYPER_PARAMETERS.EPOCHS=2
    python train.py USE_MULTI_GPUS.VALUE=True DATA_GENERATOR_TYPE=DALI_GENERATOR OPTIMIZATION.AMP=True OPTIMIZATION.XLA=True

Each run writes into its own folder RUN_DIR (default runs/<time>; multirun/<time>/<job> under -m):
its config, the best weights by validation Dice, a CSV log, TensorBoard logs, a loss/Dice plot.
`python train.py RUN_DIR=<that folder>` resumes an interrupted run (BackupAndRestore), best value
included. See configs/config.yaml for every option.
`python train.py -m ...` runs one complete training per job and returns its best validation
Dice to Hydra's sweeper (hparams_search=lr_batch: Optuna).
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from app.cli import hydra_app, hydra_job_dir
from run_dirs.run_dir import command_line_keys
from training.run import sweep_job


def train_job(cfg: DictConfig) -> float:
    """The Hydra task: one complete run (its own run folder per `-m` job); returns its best validation Dice."""
    return sweep_job(cfg, command_line_keys(), hydra_job_dir())


main = hydra_app(train_job)


if __name__ == "__main__":
    main()
