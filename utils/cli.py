"""The one entry point every script shares: Hydra parses the command line, UserErrors print one line."""
import os
import sys
from typing import Callable

import hydra
from omegaconf import DictConfig, OmegaConf

from utils.config import CONFIG_DIR
from utils.errors import exit_on_user_error


# `--help` names the script that was run (configs/config.yaml, hydra.help).
OmegaConf.register_new_resolver("script_name", lambda: os.path.basename(sys.argv[0]), replace=True)
OmegaConf.register_new_resolver(
    "script_summary", lambda: (getattr(sys.modules.get("__main__"), "__doc__", None) or "").strip().split("\n")[0],
    replace=True)


def hydra_app(task: Callable[[DictConfig], object]) -> Callable[[], None]:
    """`main()` for a script running `task(cfg)` on configs/config.yaml plus command-line overrides.

    The task's return value is the Hydra job's return value, which sweepers (Optuna) optimise.
    """
    @hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
    def main(cfg: DictConfig) -> object:
        with exit_on_user_error():
            return task(cfg)

    return main
