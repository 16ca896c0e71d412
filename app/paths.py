"""Fail fast on paths: every output writable and every input readable before the first epoch or batch.

Nothing is created here, so a run refused for another reason leaves no empty folders behind; the
partial files a killed run left in the output folders are swept (utils.files.sweep_partial_files).
"""
import os
import tempfile
from typing import Iterable, Optional

from omegaconf import OmegaConf

from utils.errors import UserError
from utils.files import sweep_partial_files


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def require_writable_dir(path: str, key: str) -> str:
    """A directory that exists and takes files, or can be created; else a UserError naming key."""
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        raise UserError(f"{key} cannot be created at {path}: {existing} is a file; set {key} to a writable directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise UserError(f"{key} is not writable: {path} ({err.strerror}); set {key} to a writable directory") from None
    return path


def require_writable_file(path: str, key: str) -> str:
    """A file path whose directory is writable and which is not itself a directory or read-only."""
    if os.path.isdir(path):
        raise UserError(f"{key} must be a file path, but {path} is a directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UserError(f"{key} is not writable: {path}; set {key} to a writable file path")
    require_writable_dir(os.path.dirname(os.path.abspath(path)), key)
    return path


def require_readable(path: str, key: str, directory: bool = False) -> str:
    """An existing, readable file (or directory); else a UserError naming key."""
    kind = "directory" if directory else "file"
    exists = os.path.isdir(path) if directory else os.path.isfile(path)
    if not exists:
        raise UserError(f"{key}: {kind} not found: {path}")
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        raise UserError(f"{key}: {kind} not readable: {path}")
    return path


def _switched_off(cfg, key: str) -> bool:
    """A key in a section with `VALUE: False` (a callback switched off) is never used."""
    section = key.rsplit(".", 1)[0]
    return OmegaConf.select(cfg, f"{section}.VALUE", default=True) is False


def require_paths(cfg, *, write_dirs: Iterable[str] = (), write_files: Iterable[str] = (),
                  read_dirs: Iterable[str] = (), read_files: Iterable[str] = ()) -> None:
    """Check the paths of the named config keys before any work: the scripts' one fail-fast call.

    Keys whose value is null, or whose section is switched off (VALUE: False), are skipped. Once all
    are fine, the `.tmp-PID-*` files of dead processes in the output folders are removed.
    """
    checks = ([(k, require_writable_dir) for k in write_dirs] + [(k, require_writable_file) for k in write_files]
              + [(k, lambda p, key: require_readable(p, key, directory=True)) for k in read_dirs]
              + [(k, require_readable) for k in read_files])
    for key, check in checks:
        path: Optional[str] = OmegaConf.select(cfg, key)
        if path is not None and not _switched_off(cfg, key):
            check(path, key)
    for key in [*write_dirs, *write_files]:
        path = OmegaConf.select(cfg, key)
        if path is not None and not _switched_off(cfg, key):
            sweep_partial_files(path if key in write_dirs else os.path.dirname(os.path.abspath(path)))
