"""Files: one rule for which prepared slices count in a folder, and one way to write a file (atomically)."""
import json
import os
from typing import Callable, List

from utils.errors import UserError

WEIGHTS_SUFFIX = ".weights.h5"   # Keras 3's weights-only files: the best checkpoint and the resume backup


def list_files(directory: str, suffix: str = ".png") -> List[str]:
    """Sorted names of the files in directory ending with suffix; hidden ones (.partial-*, ._*) never count."""
    return sorted(f for f in os.listdir(directory) if f.endswith(suffix) and not f.startswith("."))


def require_dir(path: str, what: str, suffix: str = ".png") -> List[str]:
    """list_files of a directory that exists and holds some; else a UserError naming `what` and the path."""
    if not os.path.isdir(path):
        raise UserError(f"{what} not found: {path}")
    names = list_files(path, suffix)
    if not names:
        raise UserError(f"{what} is empty (no '*{suffix}' files): {path}")
    return names


def write_atomically(path: str, write: Callable[[str], None]) -> str:
    """write(temporary_path), then rename: a crash leaves the old file or the new one, never half of one.

    The temporary file sits beside `path` and ends with its name, so writers that go by the
    extension (`.nii.gz`, `.weights.h5`) still work; the folder is created if needed.
    """
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_json(path: str, payload) -> str:
    """payload as indented JSON at path, atomically (write_atomically): every JSON file this project writes."""
    def write(temporary: str) -> None:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2)

    return write_atomically(path, write)
