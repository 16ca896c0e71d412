"""K-fold cross-validation by volume: train every fold, score each held-out case, summarise.

    python cross_validate.py DATASET.NUM_FOLDS=5 HYPER_PARAMETERS.EPOCHS=50

Fold k trains on the TRAIN volumes outside fold k and is scored on those inside it (the VAL
split is not used). Writes CROSS_VALIDATION.RESULTS_PATH/summary.csv: Dice of liver and
tumour per held-out case, then their mean and sd over all cases.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TF's C++ start-up chatter out of the output

import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from data_generators.dataset_files import list_split_pairs  # noqa: E402
from utils.cli import hydra_app  # noqa: E402
from utils.config import validate_config  # noqa: E402
from utils.cross_validation import held_out_case_dice, write_cross_validation_csv  # noqa: E402
from utils.errors import UserError  # noqa: E402
from utils.inference import load_trained_model  # noqa: E402
from utils.job_outputs import with_outputs_in  # noqa: E402

TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.py")
# What a saved fold config needs to run as train.py's primary config: no Hydra output folders.
HYDRA_SETTINGS = {"defaults": ["_self_", {"override hydra/job_logging": "stdout"}],
                  "hydra": {"run": {"dir": "."}, "output_subdir": None, "job": {"chdir": False}}}


def fold_config(cfg: DictConfig, fold: int) -> DictConfig:
    """cfg for fold `fold`: DATASET.FOLD set and its own output paths (…/fold_<k>)."""
    fold_cfg = with_outputs_in(cfg, f"fold_{fold}")
    fold_cfg.DATASET.FOLD = fold
    return fold_cfg


def train_fold(fold_cfg: DictConfig, config_dir: str) -> None:
    """Run train.py on the fold's config, saved to config_dir (a fresh process: fresh TF state)."""
    os.makedirs(config_dir, exist_ok=True)
    settings = OmegaConf.merge(OmegaConf.create(OmegaConf.to_container(fold_cfg, resolve=True)), HYDRA_SETTINGS)
    OmegaConf.save(settings, os.path.join(config_dir, "config.yaml"))
    completed = subprocess.run([sys.executable, TRAIN_SCRIPT, "--config-path", os.path.abspath(config_dir),
                                "--config-name", "config"])
    if completed.returncode != 0:
        sys.exit(completed.returncode)   # train.py has printed its own error


def cross_validate(cfg: DictConfig) -> dict:
    validate_config(cfg)
    num_folds = cfg.DATASET.NUM_FOLDS
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise UserError(f"cross_validate.py needs DATASET.NUM_FOLDS >= 2, got {num_folds!r}")
    for fold in range(num_folds):   # every fold's split is checked before any training starts
        list_split_pairs(fold_config(cfg, fold), "val")
    results_dir = cfg.CROSS_VALIDATION.RESULTS_PATH
    case_rows = []
    for fold in range(num_folds):
        print(f"== fold {fold} of {num_folds} ==", flush=True)
        fold_cfg = fold_config(cfg, fold)
        train_fold(fold_cfg, os.path.join(results_dir, f"fold_{fold}"))
        model = load_trained_model(fold_cfg)
        case_rows += [{"fold": fold, **row} for row in held_out_case_dice(fold_cfg, model)]
        keras.backend.clear_session()
    summary_path = os.path.join(results_dir, "summary.csv")
    mean, sd = write_cross_validation_csv(case_rows, summary_path)
    for key in (k for k in mean if k.startswith("dice_")):
        print(f"{key}: {mean[key]:.4f} ± {sd[key]:.4f} over {len(case_rows)} held-out cases")
    print(f"summary: {summary_path}")
    return {"cases": case_rows, "mean": mean, "sd": sd, "summary_csv": summary_path}


main = hydra_app(cross_validate)


if __name__ == "__main__":
    main()
