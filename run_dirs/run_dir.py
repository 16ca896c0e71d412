"""Run directories: each training run writes into its own folder and saves its resolved config there.

    <WORK_DIR>/runs/<YYYY-mm-dd_HH-MM-SS>/       one per `train.py` run
    <WORK_DIR>/multirun/<YYYY-mm-dd_HH-MM-SS>/<job number>/   one per job of `train.py -m`

Inside: config.yaml, train.lock (held while a train.py writes there), checkpoint/ (best weights + best.json), backup/ (BackupAndRestore), logs/
(training.csv, training.png, train_timing.json, tensorboard/), evaluation/, predictions/.
A run's saved config is the truth about its model, so evaluate/predict/the notebook and a resumed
train.py read the model settings from it instead of having them retyped.
"""
import copy
import datetime
import os
import shutil
from typing import Iterable, List, Optional, Set

try:
    import fcntl
except ImportError:   # Windows: runs are not locked
    fcntl = None

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from utils.errors import UserError
from utils.files import WEIGHTS_SUFFIX, sweep_partial_files, write_atomically

RUN_CONFIG = "config.yaml"
RUN_LOCK = "train.lock"   # held (flock) by the train.py writing into the run; the OS drops it when that process ends
LATEST = "latest"
_NEW_RUN_DIRS = set()   # names prepare_run picked for new runs; open_run creates them, never reusing one
_HELD_LOCKS = {}        # run dir -> the open lock file of a run this process writes into
_CREATED_RUN_DIRS = set()   # new run folders open_run made in this process (discard_unstarted_run may remove them)

# Config groups on the command line (`data=images`) and the key each one sets.
GROUP_KEYS = {"data": "DATASET.KIND"}
# The outputs train.py writes; all must lie in the run's own directory tree or outside every run.
OUTPUT_KEYS = ("CALLBACKS.MODEL_CHECKPOINT.PATH", "CALLBACKS.BACKUP_AND_RESTORE.PATH", "CALLBACKS.CSV_LOGGER.PATH",
               "CALLBACKS.TENSORBOARD.PATH", "CALLBACKS.TIMING.PATH")


def is_run_dir(path: str) -> bool:
    """A folder train.py made: it holds the saved config, which has a RUN_DIR key."""
    config_path = os.path.join(path, RUN_CONFIG)
    if not os.path.isfile(config_path):
        return False
    try:
        return "RUN_DIR" in OmegaConf.load(config_path)
    except Exception:  # an unrelated or broken YAML file: not a run
        return False


def load_run_config(run_dir: str) -> DictConfig:
    """The resolved config a run was started with, its paths inside the run pointing where the run is now.

    config.yaml stores them relative to the run (`${RUN_DIR}/checkpoint`, RUN_DIR: .), so a moved or
    copied run reads and writes its own files; runs saved with absolute paths are rebased the same way.
    """
    path = os.path.join(run_dir, RUN_CONFIG)
    if not os.path.isfile(path):
        raise UserError(f"RUN_DIR {run_dir} is not a training run (no {RUN_CONFIG} written by train.py): "
                        f"pass a directory under runs/ or multirun/, or leave RUN_DIR unset for the latest run")
    try:
        saved = OmegaConf.load(path)
    except Exception as err:  # yaml and OmegaConf raise many types
        reason = " ".join(str(err).split())[:200]
        raise UserError(f"{path} is not valid YAML ({reason}): repair the file (it is the run's record of how it "
                        f"was trained)") from None
    if not isinstance(saved, DictConfig) or "RUN_DIR" not in saved:
        raise UserError(f"RUN_DIR {run_dir} is not a training run ({path} has no RUN_DIR: it was not written by "
                        f"train.py)")
    stored = saved._get_node("RUN_DIR")._value()
    here = os.path.abspath(run_dir)
    if isinstance(stored, str) and os.path.isabs(stored) and os.path.normpath(stored) != here:
        _rebase(saved, os.path.normpath(stored), here)
    with open_dict(saved):
        saved.RUN_DIR = here
    try:
        OmegaConf.resolve(saved)
    except Exception as err:
        raise UserError(f"{path} cannot be read: {' '.join(str(err).split())[:200]}") from None
    return saved


def _rebase(node, old: str, new: str) -> None:
    """Replace the prefix `old` (a run's former location) by `new` in every string of node, in place."""
    for key in list(node.keys()) if isinstance(node, DictConfig) else range(len(node)):
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)):
            _rebase(child, old, new)
            continue
        value = child._value()
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            node[key] = new + value[len(old):]


def _relative_to_run(values, run_dir: str):
    """A plain config with every path inside run_dir written as `${RUN_DIR}/...` (RUN_DIR itself: '.')."""
    if isinstance(values, dict):
        return {key: _relative_to_run(value, run_dir) for key, value in values.items()}
    if isinstance(values, list):
        return [_relative_to_run(value, run_dir) for value in values]
    if isinstance(values, str) and values.startswith(run_dir + os.sep):
        return "${RUN_DIR}" + values[len(run_dir):]
    return values


def list_runs(work_dir: str) -> List[str]:
    """Every run under work_dir (runs/* and multirun/*/*), oldest first by when its config was written."""
    candidates = []
    runs_root, multirun_root = os.path.join(work_dir, "runs"), os.path.join(work_dir, "multirun")
    if os.path.isdir(runs_root):
        candidates += [os.path.join(runs_root, name) for name in os.listdir(runs_root)]
    if os.path.isdir(multirun_root):
        for sweep in os.listdir(multirun_root):
            sweep_dir = os.path.join(multirun_root, sweep)
            if os.path.isdir(sweep_dir):
                candidates += [os.path.join(sweep_dir, name) for name in os.listdir(sweep_dir)]
    runs = [c for c in candidates if is_run_dir(c)]
    return sorted(runs, key=lambda r: (os.path.getmtime(os.path.join(r, RUN_CONFIG)), r))


def latest_run(work_dir: str) -> str:
    runs = list_runs(work_dir)
    if not runs:
        raise UserError(f"no training run under {work_dir}/runs or {work_dir}/multirun: run train.py first, "
                        f"or set RUN_DIR to a run directory (or WORK_DIR to where you trained)")
    return runs[-1]


def has_weights(run_dir: str) -> bool:
    """Whether a run has written weights (its best checkpoint or a resume backup): it finished an epoch.

    Hidden files do not count: a `.tmp-PID-...weights.h5` is a save that a kill or a full disk cut short."""
    return any(name.endswith(WEIGHTS_SUFFIX) and not name.startswith(".")
               for _, _, names in os.walk(run_dir) for name in names)


def latest_trained_run(work_dir: str) -> str:
    """The newest run holding weights, what evaluate.py, predict.py and the notebook read by default.

    A newer run that has none (killed in its first epoch, or still in it) is passed over with a note,
    so it does not hide the last model that can be used.
    """
    runs = list_runs(work_dir)
    trained = [run for run in runs if has_weights(run)]
    if not trained:
        newest = latest_run(work_dir)   # no run at all: its error
        raise UserError(f"no training run under {work_dir} has finished an epoch yet (the newest, {newest}, has no "
                        f"weights): let it train, or set RUN_DIR to a run with weights")
    if trained[-1] != runs[-1]:
        print(f"note: {runs[-1]} has no weights yet (stopped or still in its first epoch); using {trained[-1]}")
    return trained[-1]


def enclosing_run(path: str) -> Optional[str]:
    """The run directory that path lies in (path itself or a parent), if any."""
    current = os.path.abspath(path)
    while True:
        if os.path.isdir(current) and is_run_dir(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def command_line_keys(overrides: Optional[Iterable[str]] = None) -> Set[str]:
    """Keys set on the command line (`KEY=VALUE`, `+KEY=`, `++KEY=`); Hydra's when overrides is None."""
    if overrides is None:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}
    return {GROUP_KEYS.get(key, key) for key in keys}


def _new_run_dir(work_dir: str) -> str:
    """runs/<timestamp> for a new run; open_run adds a suffix if another run takes it first."""
    return os.path.join(work_dir, "runs", datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))


def _create_new_run_dir(path: str) -> str:
    """Create path, or path-1, path-2... : the first that no other run has taken (mkdir is atomic)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    candidate, n = path, 1
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            candidate, n = f"{path}-{n}", n + 1


def named_run_dir(work_dir: str, run_dir: str) -> str:
    """The folder a RUN_DIR value names: the newest run for 'latest', else a path (relative to WORK_DIR, like
    every other path given on the command line)."""
    if run_dir == LATEST:
        return latest_run(work_dir)
    return os.path.normpath(os.path.join(work_dir, os.path.expanduser(str(run_dir))))


def prepare_run(cfg: DictConfig, explicit: Iterable[str] = (), job_dir: Optional[str] = None) -> DictConfig:
    """Choose train.py's run directory (in place) and, when it is an existing run, resume its settings.

    RUN_DIR unset: a new runs/<time> folder (a Hydra multirun job: its own folder, `job_dir`).
    RUN_DIR=latest: the newest run. RUN_DIR an existing run: that run, with the settings it was
    started with plus the values of the keys set on the command line, `explicit` (command_line_keys;
    one contradicting its model is refused).
    Writes nothing; `open_run` creates the folder once the inputs are checked.
    """
    explicit = set(explicit) - {"RUN_DIR"}
    with open_dict(cfg):
        if cfg.RUN_DIR is None:
            cfg.RUN_DIR = job_dir or _new_run_dir(cfg.WORK_DIR)
            if job_dir is None:
                _NEW_RUN_DIRS.add(cfg.RUN_DIR)
            return cfg
        cfg.RUN_DIR = named_run_dir(cfg.WORK_DIR, cfg.RUN_DIR)
    run_dir = cfg.RUN_DIR
    _CREATED_RUN_DIRS.discard(run_dir)   # resumed: not this start's to discard
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        from app.run_config import adopt_from_run, refuse_contradictions, validate_adopted   # app imports this module

        saved = load_run_config(run_dir)
        refuse_contradictions(cfg, saved, explicit, run_dir)
        asked = copy.deepcopy(cfg)
        adopt_from_run(cfg, saved, [k for k in saved if k != "RUN_DIR" and k in cfg], explicit, run_dir)
        with open_dict(cfg):
            cfg.RUN_DIR = run_dir
        validate_adopted(cfg, asked, run_dir)
    return cfg


def open_run(cfg: DictConfig) -> str:
    """Create the run directory, check no output lands in another run, save the resolved config there."""
    run_dir = cfg.RUN_DIR
    if run_dir in _NEW_RUN_DIRS:
        _NEW_RUN_DIRS.discard(run_dir)
        try:
            with open_dict(cfg):
                cfg.RUN_DIR = run_dir = _create_new_run_dir(run_dir)
            _CREATED_RUN_DIRS.add(run_dir)
        except OSError as err:
            raise UserError(f"cannot create the run directory {run_dir} ({err.strerror}): set RUN_DIR or "
                            f"WORK_DIR to a writable folder") from None
    for key in OUTPUT_KEYS:
        owner = enclosing_run(OmegaConf.select(cfg, key))
        if owner is not None and os.path.abspath(owner) != os.path.abspath(run_dir):
            raise UserError(f"{key}={OmegaConf.select(cfg, key)} is inside another run ({owner}): a run never "
                            f"writes into another's folder; leave {key} at its default (inside RUN_DIR)")
    owner = enclosing_run(os.path.dirname(run_dir))
    if owner is not None:
        raise UserError(f"RUN_DIR={run_dir} is inside another run ({owner}): choose a folder outside it")
    try:
        os.makedirs(run_dir, exist_ok=True)
        _lock_run(run_dir)
        sweep_partial_files(run_dir, recursive=True)   # what a killed save of this run left
        write_config(cfg, os.path.join(run_dir, RUN_CONFIG))
    except OSError as err:
        raise UserError(f"cannot write the run directory {run_dir} ({err.strerror}): set RUN_DIR or WORK_DIR "
                        f"to a writable folder") from None
    return run_dir


def _lock_run(run_dir: str) -> None:
    """Take the run's lock, or refuse: two train.py resuming one run would overwrite each other's weights.

    flock, not a pid file: a killed run leaves no stale lock behind."""
    if fcntl is None or run_dir in _HELD_LOCKS:
        return
    handle = open(os.path.join(run_dir, RUN_LOCK), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise UserError(f"RUN_DIR={run_dir} is in use by another train.py (pid {holder}): wait for it to end, "
                        f"or leave RUN_DIR unset for a new run") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _HELD_LOCKS[run_dir] = handle


def close_run(cfg: DictConfig) -> None:
    """Release the run's lock (taken by open_run) once training is over; a no-op if this process holds none."""
    handle = _HELD_LOCKS.pop(cfg.RUN_DIR, None)
    if handle is not None:
        handle.close()


def discard_unstarted_run(cfg: DictConfig) -> bool:
    """Remove the new run folder of a training that failed before writing any weights; True if removed.

    A refused start (backbone weights that do not load, a corrupt slice in epoch 1) must not leave a
    folder that evaluate.py and predict.py would then take as the latest run. Folders of resumed
    runs, of Hydra jobs, and any folder holding weights are kept.
    """
    run_dir = cfg.RUN_DIR
    if run_dir not in _CREATED_RUN_DIRS:
        return False
    if has_weights(run_dir):
        return False
    close_run(cfg)
    _CREATED_RUN_DIRS.discard(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


def write_config(cfg: DictConfig, path: str) -> None:
    """The resolved config as YAML, written whole or not at all (temporary file, then rename).

    Paths inside the run are stored relative to it (`${RUN_DIR}/checkpoint`, RUN_DIR: .), so the run
    folder can be moved or copied; load_run_config points them at where the run is then.
    """
    values = OmegaConf.to_container(cfg, resolve=True)
    run_dir = os.path.abspath(os.path.dirname(path))
    if os.path.abspath(str(values.get("RUN_DIR"))) == run_dir:
        values = _relative_to_run(values, run_dir)
        values["RUN_DIR"] = "."
    stored = OmegaConf.create(values)
    write_atomically(path, lambda temporary: OmegaConf.save(stored, temporary))


def resume_command(cfg: DictConfig) -> str:
    """The command that continues this run where it stopped."""
    return f"python train.py RUN_DIR={cfg.RUN_DIR}"
