"""The config's walk through a script: which modules ("rooms") receive the script's config, in call order.

    python -m tests.config_walk evaluate.py RUN_DIR=runs/<run> [more overrides]

Runs the script as its command line does (its Hydra `main`), tracing every call of this project's code that
receives the script's config or a node of it. A stop is such a call, a room its module; a return is a room
entered again after the walk has been elsewhere (issue 19: the config read in each room once, in order).
Rooms are counted by module and by package (the script itself is where the walk starts, not a room).
"""
import os
import runpy
import sys
from typing import List, NamedTuple, Tuple

from omegaconf import DictConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENTRY = os.path.join("app", "cli.py")
GENERATOR_FLAGS = 0x20 | 0x200   # CO_GENERATOR | CO_ASYNC_GENERATOR: a generator's resumptions are not new calls


class Walk(NamedTuple):
    stops: List[Tuple[str, str]]   # (module path relative to the repository, function), in call order
    rooms: List[str]               # modules in the order first entered, consecutive repeats merged
    returns: List[str]             # rooms entered again after the walk left them


def _project_module(filename: str):
    if not filename.startswith(REPO + os.sep) or os.sep + "." in filename[len(REPO):]:
        return None
    relative = os.path.relpath(filename, REPO)
    return None if relative.startswith("tests" + os.sep) else relative


def trace_script(script: str, overrides: List[str]) -> Walk:
    """Run `script` (a path under the repository) with `overrides` on its command line; its config's Walk."""
    stops, resumed, root = [], {}, []   # resumed: id -> generator frame, kept alive so no other frame reuses its id

    def profiler(frame, event, _):
        if event != "call" or id(frame) in resumed:
            return
        module = _project_module(frame.f_code.co_filename)
        if module is None:
            return
        code = frame.f_code
        if code.co_flags & GENERATOR_FLAGS:
            resumed[id(frame)] = frame
        for name in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]:
            value = frame.f_locals.get(name)
            if isinstance(value, DictConfig):
                if not root and (module, code.co_name) == (ENTRY, "hydra_main"):
                    root.append(value._get_root())   # the script's config, as app.cli.hydra_app hands it over
                if root and value._get_root() is root[0]:
                    stops.append((module, code.co_name))
                    return

    argv = sys.argv
    sys.argv = [script, *overrides]
    sys.setprofile(profiler)
    try:
        runpy.run_path(os.path.join(REPO, script), run_name="__main__")
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise
    finally:
        sys.setprofile(None)
        sys.argv = argv
    return walk_of(stops)


def walk_of(stops: List[Tuple[str, str]]) -> Walk:
    rooms, returns = [], []
    for module, _ in stops:
        if rooms and rooms[-1] == module:
            continue
        if module in rooms:
            returns.append(module)
        rooms.append(module)
    return Walk(stops, rooms, returns)


def package_of(module: str) -> str:
    """The room a module is in: its package (top-level folder); None for a script, where the walk starts."""
    return module.split(os.sep)[0] if os.sep in module else None


def packages(walk: Walk) -> Walk:
    """The walk by packages (rooms such as app/, data_sets/, deploy/), the script itself left out."""
    return walk_of([(package_of(module), name) for module, name in walk.stops if package_of(module)])


def main() -> None:
    walk = trace_script(sys.argv[1], sys.argv[2:])
    by_package = packages(walk)
    print(f"{len(walk.stops)} stops in {len(set(walk.rooms))} modules, {len(walk.returns)} returns; "
          f"{len(set(by_package.rooms))} packages, {len(by_package.returns)} returns")
    print("modules: " + " -> ".join(walk.rooms))
    print("module returns: " + (", ".join(walk.returns) or "none"))
    print("packages: " + " -> ".join(by_package.rooms))
    print("package returns: " + (", ".join(by_package.returns) or "none"))


if __name__ == "__main__":
    main()
