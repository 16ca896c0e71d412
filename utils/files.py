"""Files: one rule for which prepared slices count in a folder, and one way to write a file (atomically),
so that nothing is half-written or overwritten."""
import errno
import json
import os
import re
import shutil
from typing import Callable, Dict, Iterable, List, Optional

from utils.errors import UserError, WriteError

WEIGHTS_SUFFIX = ".weights.h5"   # Keras 3's weights-only files: the best checkpoint and the resume backup
# write_atomically's temporary files: `.tmp-<pid>-<final name>`, hidden from every listing.
_PARTIAL = re.compile(r"^\.tmp-(\d+)-")


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


def os_error_reason(err: BaseException) -> str:
    """'No space left on device' for an OSError (h5py's carry a page of HDF5 detail); one line in any case."""
    code = getattr(err, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return os.strerror(code)
    return " ".join(str(err).split())[:200] or type(err).__name__


def write_atomically(path: str, write: Callable[[str], None], intact: Optional[str] = None) -> str:
    """write(temporary_path), then rename: a crash leaves the old file or the new one, never half of one.

    The temporary file sits beside `path` and ends with its name, so writers that go by the
    extension (`.nii.gz`, `.weights.h5`) still work; the folder is created if needed. An OSError
    (disk full, I/O error, read-only disk) becomes a WriteError naming the path and what is intact:
    `intact`, or by default whether an earlier file of that name is left as it was.
    """
    folder, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
    try:
        os.makedirs(folder, exist_ok=True)
        write(temporary)
        os.replace(temporary, path)
    except OSError as err:
        _release(temporary)
        if intact is None:
            intact = (f"the earlier {name} there is intact" if os.path.isfile(path)
                      else "nothing was written under that name")
        reason = os_error_reason(err)
        raise WriteError(f"cannot write {path} ({reason}): {intact}", path, reason) from None
    finally:
        try:
            if os.path.exists(temporary):
                os.remove(temporary)
        except OSError:   # an I/O error on removal too: sweep_partial_files removes it on the next run
            pass
    return path


def _release(temporary: str) -> None:
    """Free the space of a failed write now: a library may still hold the file open (h5py after a full disk),
    and HDF5 closing it into a still-full disk fails again and crashes the interpreter at exit."""
    try:
        if os.path.isfile(temporary):
            os.truncate(temporary, 0)
    except OSError:
        pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def sweep_partial_files(folder: str, recursive: bool = False) -> int:
    """Remove the `.tmp-<pid>-*` files a killed process left in folder (or its tree); returns how many.

    Files of processes still running are left alone: they may be writing them right now.
    """
    removed = 0
    if not os.path.isdir(folder):
        return 0
    walk = os.walk(folder) if recursive else [(folder, [], os.listdir(folder))]
    for root, _, names in walk:
        for name in names:
            match = _PARTIAL.match(name)
            if match and not _process_alive(int(match.group(1))):
                path = os.path.join(root, name)
                try:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.remove(path)
                    removed += 1
                except OSError:
                    pass
    return removed


def same_file(first: str, second: str) -> bool:
    """Whether two paths name one file (links, `..`, a case-insensitive disk); False if either is missing."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def refuse_overwrite(outputs: Iterable[str], protected: Dict[str, str], key: str) -> None:
    """A UserError when an output would replace a protected file (an input read, a reference segmentation).

    protected: path -> what it is ('the CT read', 'the reference segmentation of volume-3.nii').
    Linear in the number of files (a folder of thousands of pictures): paths compared by their real path,
    existing files by device and inode, as same_file does pair by pair.
    """
    by_path = {os.path.realpath(path): (path, what) for path, what in protected.items()}
    by_inode = {}
    for path, what in protected.items():
        try:
            status = os.stat(path)
        except OSError:
            continue
        by_inode[(status.st_dev, status.st_ino)] = (path, what)
    for output in outputs:
        hit = by_path.get(os.path.realpath(output))
        if hit is None:
            try:
                status = os.stat(output)
                hit = by_inode.get((status.st_dev, status.st_ino))
            except OSError:
                pass
        if hit is not None:
            raise UserError(f"{key} would write {output} over {hit[1]}: an input is never overwritten; "
                            f"set {key} to another folder")


def write_json(path: str, payload, intact: Optional[str] = None) -> str:
    """payload as indented JSON at path, atomically (write_atomically): every JSON file this project writes."""
    def write(temporary: str) -> None:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2)

    return write_atomically(path, write, intact)
