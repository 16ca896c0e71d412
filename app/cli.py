"""The one entry point every script shares: Hydra parses the command line, UserErrors print one line."""
import os
import sys
from typing import Callable, Optional

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from app.choices import choices_help
from app.config import CONFIG_DIR, validate_config
from app.run_config import run_config
from utils.errors import UserError, exit_on_user_error
from app.schema import config_error_line


# `--help` names the script that was run (configs/config.yaml, hydra.help).
OmegaConf.register_new_resolver("script_name", lambda: os.path.basename(sys.argv[0]), replace=True)


def _script_doc() -> str:
    return (getattr(sys.modules.get("__main__"), "__doc__", None) or "").strip()


def script_examples(doc: str, script: str) -> str:
    """The `python ...` command lines of a script's docstring, indented: its own `--help` examples."""
    lines = [f"  {line.strip()}" for line in doc.splitlines() if line.strip().startswith("python ")]
    return "\n".join(lines) or f"  python {script} HYPER_PARAMETERS.BATCH_SIZE=4"


OmegaConf.register_new_resolver("script_summary", lambda: _script_doc().split("\n")[0], replace=True)
OmegaConf.register_new_resolver(
    "script_examples", lambda: script_examples(_script_doc(), os.path.basename(sys.argv[0])), replace=True)
# WORK_DIR's default, usable where `${hydra:runtime.cwd}` is not yet set (hydra.sweep.dir under -m).
OmegaConf.register_new_resolver("cwd", os.getcwd, replace=True)
# ... and lists the valid names of each choice, read from the tables that implement them.
OmegaConf.register_new_resolver("choices", choices_help, replace=True)


def command_line_overrides() -> list:
    """The running app's own KEY=VALUE overrides as typed (empty outside a Hydra app): what a script passes
    on to the scripts it runs in fresh processes, so they see the config it sees."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def hydra_job_dir() -> Optional[str]:
    """The running job's own folder under `-m` (hydra.sweep.dir/subdir): a sweep job's run folder; None
    outside a Hydra multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.runtime.output_dir if hydra_cfg.mode == RunMode.MULTIRUN else None


def hydra_app(task: Callable[[DictConfig], object], trained_run: bool = False) -> Callable[[], None]:
    """`main()` for a script running `task(cfg)` on configs/config.yaml plus command-line overrides.

    The config is made whole and validated first, once, before the task does any work: for a script working
    on a trained run (`trained_run`: evaluate.py, predict.py, export.py) that is the command line's config with
    the run's saved settings taken in (app.run_config), else the command line's config alone.
    The task's return value is the Hydra job's return value, which sweepers (Optuna) optimise.
    """
    @hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
    def hydra_main(cfg: DictConfig) -> object:
        with exit_on_user_error():
            if trained_run:
                run_config(cfg)
            else:
                validate_config(cfg)
            return task(cfg)

    def main() -> None:
        if "HYDRA_FULL_ERROR" in os.environ:   # the user asked for Hydra's own tracebacks
            return hydra_main()
        # Hydra prints its config errors over several lines; let them through to print one.
        os.environ["HYDRA_FULL_ERROR"] = "1"
        with exit_on_user_error():
            try:
                hydra_main()
            except HydraException as err:
                raise UserError(config_error_line(err)) from None

    return main
