"""The project is one installable package root (pyproject.toml): no script or notebook edits the import path."""
import ast
import json
import os
import sys
import tomllib

import pytest
from setuptools import find_packages

from tests.helpers import REPO, TINY_OVERRIDES, run_main, shared_data

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


def _module_name(path: str) -> str:
    """data_preparation/verify_data.py -> data_preparation.verify_data."""
    return os.path.splitext(os.path.relpath(path, REPO))[0].replace(os.sep, ".")


def _is_script(source: str) -> bool:
    """A file a user runs: a Hydra app (`main = hydra_app(...)` at module level) or one with an
    `if __name__ == "__main__":` block."""
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "hydra_app"):
            return True
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                and getattr(node.test.left, "id", None) == "__name__"
                and any(getattr(c, "value", None) == "__main__" for c in node.test.comparators)):
            return True
    return False


# train.py, evaluate.py, ..., data_preparation.preprocess_data, benchmarks.volume_inference, ...
SCRIPTS = {_module_name(path) for path in _source_files() if path.endswith(".py") and _is_script(open(path).read())}
IMPORTERS = {"import_module", "__import__", "spec_from_file_location", "SourceFileLoader"}


def _names_a_script(name: str) -> bool:
    """`data_preparation.verify_data`, `train.sub`, or a file path ending in a script (`/repo/train.py`); not the
    package `data_preparation`, nor a library module beside the scripts."""
    dotted = name[:-3].replace("/", ".").replace(os.sep, ".") if name.endswith(".py") else name
    return any(dotted == script or dotted.startswith(script + ".") or (name.endswith(".py") and dotted.endswith("." + script))
               for script in SCRIPTS)


def _script_imports(source: str, package: str = "", strings: bool = True) -> list:
    """The scripts a module's source imports: `import evaluate`, `from predict import x`,
    `from data_preparation import verify_data`, a relative import from inside the script's package, an importlib
    call naming one (`importlib.import_module("export")`, a loader given "train.py"), and code in a string that
    does so (`python -c "from benchmarks.volume_inference import ..."` in a child process). package: the module's
    own package, for relative imports; strings=False leaves code in strings out (this file's samples). Running a script's file as __main__ (runpy.run_path, a subprocess) is not
    importing it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _names_a_script(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*filter(None, base), *([node.module] if node.module else [])])
            found += [module] if _names_a_script(module) else [
                f"{module}.{alias.name}".lstrip(".") for alias in node.names
                if _names_a_script(f"{module}.{alias.name}".lstrip("."))]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in IMPORTERS:
            found += [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                      and _names_a_script(arg.value)]
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str) and "import" in node.value:
            try:
                found += _script_imports(node.value)
            except SyntaxError:   # prose, not code
                pass
    return found


def test_the_import_check_finds_every_way_of_importing_a_script():
    assert {"train", "evaluate", "predict", "export", "cross_validate", "benchmark_inference",
            "data_preparation.preprocess_data", "data_preparation.verify_data", "data_preparation.make_synthetic_data",
            "benchmarks.volume_inference", "benchmarks.cpu_backends", "benchmarks.generator_throughput"} <= SCRIPTS
    assert not {"data_sets.preparation", "benchmarks.whole_ct", "benchmarks.markdown", "data_preparation"} & SCRIPTS
    source = ("import evaluate\nfrom predict import predict\nimport cross_validate as cv\nimport importlib\n"
              "importlib.import_module('export')\n__import__('train.sub')\n"
              "importlib.util.spec_from_file_location('m', '/repo/benchmark_inference.py')\n"
              "from evaluation.summary import write_csv\nimport runpy\nrunpy.run_path('evaluate.py')\n"
              "import_module(name)\n"
              "from data_preparation.preprocess_data import prepare_dataset\nfrom data_preparation import verify_data\n"
              "import benchmarks.cpu_backends\nimport data_preparation\nfrom benchmarks.markdown import replace_section\n"
              "importlib.import_module('benchmarks.volume_inference')\n"
              "code = 'import json; from benchmarks.generator_throughput import measure'\n"
              "note = 'what a script imports, said in prose'\n")
    assert sorted(_script_imports(source)) == sorted(["evaluate", "predict", "cross_validate", "export", "train.sub",
                                       "/repo/benchmark_inference.py", "data_preparation.preprocess_data",
                                       "data_preparation.verify_data", "benchmarks.cpu_backends",
                                       "benchmarks.volume_inference", "benchmarks.generator_throughput"])
    assert "benchmarks.generator_throughput" not in _script_imports(source, strings=False)
    relative = "from .make_synthetic_data import make_synthetic_data\nfrom . import verify_data\nfrom . import manifest\n"
    assert _script_imports(relative, package="data_preparation") == ["data_preparation.make_synthetic_data",
                                                                       "data_preparation.verify_data"]


def test_a_script_is_a_module_level_hydra_app_or_main_block():
    assert _is_script("main = hydra_app(job)\n") and _is_script("if __name__ == '__main__':\n    main()\n")
    assert not _is_script("def app():\n    main = hydra_app(job)\n    return main\n")
    assert not _is_script("from app.cli import hydra_app\n\n\ndef job(cfg):\n    return cfg\n")


def test_data_preparation_holds_only_the_scripts_users_run():
    """Its library (preparation, verification, the manifest, the synthetic data set) lives in data_sets/."""
    folder = os.path.join(REPO, "data_preparation")
    modules = {f"data_preparation.{name[:-3]}" for name in os.listdir(folder) if name.endswith(".py")}
    assert modules - {"data_preparation.__init__"} == {
        "data_preparation.preprocess_data", "data_preparation.verify_data", "data_preparation.make_synthetic_data"}
    assert modules - {"data_preparation.__init__"} <= SCRIPTS


def _python_source(path: str) -> str:
    """A module's source; a notebook's code cells, its IPython magics (%matplotlib) left out."""
    if not path.endswith(".ipynb"):
        return open(path).read()
    cells = [cell["source"] for cell in json.load(open(path))["cells"] if cell["cell_type"] == "code"]
    lines = "\n".join("".join(cell) if isinstance(cell, list) else cell for cell in cells).splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def test_no_module_imports_a_script():
    """Imports flow one way: the scripts (train.py, cross_validate.py, ..., and the Hydra apps in data_preparation/
    and benchmarks/) import the library,
    never the reverse (the training run lives in training/, not in train.py), nor each other. The tests and the
    notebook too use a script only as a user does, by running it (tests/helpers.run_cli, run_main): what they
    check of its logic lives in the library."""
    offenders, tests = [], 0
    for path in _source_files():
        relative = os.path.relpath(path, REPO)
        tests += relative.startswith("tests" + os.sep) and path.endswith(".py")
        package = _module_name(os.path.dirname(path)) if os.path.dirname(path) != REPO else ""
        samples = os.path.abspath(path) == os.path.abspath(__file__)   # this file's strings are samples to check
        offenders += [f"{relative}: {name}" for name in _script_imports(_python_source(path), package, not samples)]
    assert tests > 30
    assert offenders == []


def test_run_main_runs_a_script_as_python_does_without_importing_it():
    """tests/helpers.run_main executes the script's file as __main__: `--help` reads its docstring, as in a
    fresh Python, and no module of the script's name is left behind."""
    helped = run_main("evaluate.py", "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("unet3p evaluate.py: Evaluate a trained UNet3+ on the validation CT volumes")
    assert "  python evaluate.py INFERENCE.BACKEND=onnxruntime:int8" in helped.stdout
    assert "evaluate" not in sys.modules


@pytest.mark.slow
def test_evaluate_reads_its_config_in_each_room_once_validation_first(trained, prepared_workdir, raw_lits, tmp_path):
    """Issue 19's walk: from evaluate.py's config to its scores, each module and package entered once, the config
    checked before anything else reads it (tests/walk.py traces every call that receives the config)."""
    from tests.walk import packages, trace_script

    cfg = trained[0]
    # int8, the backend that reads the most rooms (the run's weights file, training slices to calibrate on)
    walk = trace_script("evaluate.py", [*TINY_OVERRIDES, *shared_data(prepared_workdir, raw_lits),
                                        f"WORK_DIR={tmp_path}", f"RUN_DIR={cfg.RUN_DIR}",
                                        f"EVALUATION.RESULTS_PATH={tmp_path}/scores",
                                        "INFERENCE.BACKEND=onnxruntime:int8", f"EXPORT.PATH={tmp_path}/export"])
    assert walk.run.returncode == 0, walk.run.stderr[-2000:]
    modules, by_package = walk.rooms, packages(walk)
    # made whole (the run's settings taken in) and validated, once, before any room outside app/ reads it
    first_outside_app = next(i for i, module in enumerate(modules) if not module.startswith("app/"))
    assert modules[:2] == ["app/cli.py", "app/run_config.py"] and "app/config.py" in modules[:first_outside_app]
    assert walk.returns == [] and len(modules) == len(set(modules))
    assert by_package.returns == [] and len(by_package.rooms) == len(set(by_package.rooms))
    assert by_package.rooms[0] == "app" and {"data_sets", "evaluation", "run_dirs", "deploy"} <= set(by_package.rooms)
    assert (tmp_path / "scores" / "summary.csv").is_file() and (tmp_path / "export" / "model.int8.onnx").is_file()
    assert "deploy/quantize.py" in modules


def _library_and_scripts():
    for path in _source_files():
        relative = os.path.relpath(path, REPO)
        if not relative.startswith("tests" + os.sep):
            yield relative, ast.parse(_python_source(path))


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
