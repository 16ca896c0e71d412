"""The config's walk through a script: which modules ("rooms") receive the script's config, in call order.

trace_script runs the script as its command line does (its Hydra `main`, from its file: tests/helpers.run_main),
tracing every call of this project's code that receives the script's config or a node of it. A stop is such a
call, a room its module; a return is a room entered again after the walk has been elsewhere (issue 19: the
config read in each room once, in order). Rooms are counted by module and by package (the script itself is
where the walk starts, not a room). `python -m tests.config_walk` prints a script's walk.
"""
import functools
import os
import subprocess
import sys
from typing import List, NamedTuple, Tuple

from omegaconf import DictConfig

from tests.helpers import REPO, run_main

ENTRY = os.path.join("app", "cli.py")
GENERATOR_FLAGS = 0x20 | 0x200   # CO_GENERATOR | CO_ASYNC_GENERATOR: a generator's resumptions are not new calls


class Walk(NamedTuple):
    stops: List[Tuple[str, str]]   # (module path relative to the repository, function), in call order
    rooms: List[str]               # modules in the order first entered, consecutive repeats merged
    returns: List[str]             # rooms entered again after the walk left them
    run: subprocess.CompletedProcess = None   # the script's exit status and output (trace_script)


@functools.lru_cache(maxsize=None)   # the tracer asks for every call of the process, of a few thousand files
def _project_module(filename: str):
    if not filename.startswith(REPO + os.sep) or os.sep + "." in filename[len(REPO):]:
        return None
    relative = os.path.relpath(filename, REPO)
    return None if relative.startswith("tests" + os.sep) else relative


def trace_script(script: str, overrides: List[str]) -> Walk:
    """Run `script` (a path under the repository) with `overrides` on its command line, in this process; its
    config's Walk, with what the script printed and its exit status."""
    stops, resumed, root = [], {}, []   # resumed: id -> generator frame, kept alive so no other frame reuses its id

    def tracer(frame, event, _):
        """sys.settrace's global function: called as each frame starts ('call'); returning None traces no lines."""
        if id(frame) in resumed:
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

    previous = sys.gettrace()   # a debugger's or coverage's, put back afterwards
    sys.settrace(tracer)   # not setprofile: that one is also called on every return and every C function call
    try:
        run = run_main(script, *overrides)
    finally:
        sys.settrace(previous)
    return walk_of(stops)._replace(run=run)


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
