"""The project is one installable package root (pyproject.toml): no script or notebook edits the import path."""
import ast
import json
import os
import tomllib

import pytest
from setuptools import find_packages

from tests.helpers import REPO, TINY_OVERRIDES, run_cli, shared_data

SKIPPED = {".git", ".venv", "data", "runs", "outputs", "multirun", "build"}


def _source_files():
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED and not d.startswith(".") and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith((".py", ".ipynb")):
                yield os.path.join(root, name)


def test_nothing_edits_sys_path():
    marker = "sys." + "path"   # spelt in two pieces so this file does not find itself
    offenders = [os.path.relpath(path, REPO) for path in _source_files() if marker in open(path).read()]
    assert offenders == []


def test_every_code_folder_is_an_installed_package():
    """A folder of modules without an __init__.py would import only from the repository root."""
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
        find = tomllib.load(handle)["tool"]["setuptools"]["packages"]["find"]
    installed = {name.split(".")[0] for name in find_packages(REPO, exclude=find["exclude"])}
    code_folders = {name for name in os.listdir(REPO) if name not in SKIPPED and not name.startswith(".")
                    and os.path.isdir(os.path.join(REPO, name))
                    and any(f.endswith(".py") for f in os.listdir(os.path.join(REPO, name)))}
    assert installed == code_folders - {"tests"}
    assert {"utils", "models", "data_preparation", "benchmarks"} <= installed


def test_no_library_module_imports_a_script():
    """Imports flow one way: the scripts at the top (train.py, cross_validate.py, ...) import the library,
    never the reverse (the training run lives in training/, not in train.py)."""
    scripts = {name[:-3] for name in os.listdir(REPO) if name.endswith(".py")}
    offenders = []
    for path in _source_files():
        relative = os.path.relpath(path, REPO)
        if os.sep not in relative or relative.startswith("tests" + os.sep) or not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(open(path).read())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            offenders += [f"{relative}: {name}" for name in names if name.split(".")[0] in scripts]
    assert offenders == []


@pytest.mark.slow
def test_evaluate_reads_its_config_in_each_room_once_validation_first(trained, prepared_workdir, raw_lits, tmp_path):
    """Issue 19's walk: from evaluate.py's config to its scores, each package entered once, the config checked
    before anything else reads it (tests/config_walk.py traces every call that receives the config)."""
    cfg = trained[0]
    result = run_cli("-m", "tests.config_walk", "evaluate.py", *TINY_OVERRIDES, *shared_data(prepared_workdir, raw_lits),
                     f"WORK_DIR={tmp_path}", f"RUN_DIR={cfg.RUN_DIR}", f"EVALUATION.RESULTS_PATH={tmp_path}/scores")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines()
                 if line.startswith(("modules: ", "packages: ", "package returns: ")))
    modules, rooms = lines["modules"].split(" -> "), lines["packages"].split(" -> ")
    assert modules[:2] == ["app/cli.py", "app/config.py"]   # validated first
    assert lines["package returns"] == "none" and len(rooms) == len(set(rooms))
    assert rooms[0] == "app" and {"data_sets", "evaluation", "run_dirs", "deploy"} <= set(rooms)
    assert (tmp_path / "scores" / "summary.csv").is_file()


def _code(path: str) -> str:
    """A module's source, or a notebook's code cells joined (its `%magic` lines left out)."""
    if not path.endswith(".ipynb"):
        return open(path).read()
    cells = json.load(open(path))["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code" for line in "".join(cell["source"]).splitlines()]
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def _library_and_scripts():
    for path in _source_files():
        relative = os.path.relpath(path, REPO)
        if not relative.startswith("tests" + os.sep):
            yield relative, ast.parse(_code(path))


def test_normalize_image_is_read_by_its_owner_only():
    """Issue 19: one owner of how a slice or picture becomes a network input. PREPROCESS_DATA.NORMALIZE_IMAGE is
    read in volumes/slices.py alone; everything else takes its SliceSettings / ImageSettings."""
    readers = {relative for relative, tree in _library_and_scripts() for node in ast.walk(tree)
               if isinstance(node, ast.Attribute) and node.attr == "NORMALIZE_IMAGE"}
    assert readers == {os.path.join("volumes", "slices.py")}


def test_labels_are_merged_into_the_network_classes_in_one_place():
    """Issue 19: one owner of label handling. `np.minimum(labels, classes - 1)` is data_sets.labels.network_labels."""
    writers = {relative for relative, tree in _library_and_scripts() for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "minimum"
               and any(isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Sub) for arg in node.args)}
    assert writers == {os.path.join("data_sets", "labels.py")}
