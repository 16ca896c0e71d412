"""The project is one installable package root (pyproject.toml): no script or notebook edits the import path."""
import ast
import os
import tomllib

from setuptools import find_packages

from tests.helpers import REPO

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
