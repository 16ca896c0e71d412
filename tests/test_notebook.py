"""predict.ipynb runs top to bottom headless on the synthetic data and draws its figures."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import REPO
from utils.files import list_files

pytestmark = pytest.mark.slow   # runs a Jupyter kernel on a trained model


def test_notebook_executes_and_shows_figures(trained, monkeypatch, tmp_path):
    cfg, _ = trained
    # only the data and the run: the model settings (64x64, slim filters) come from the run's saved config
    overrides = [f"DATA_PREPARATION.PROCESSED_DATA_PATH={cfg.DATA_PREPARATION.PROCESSED_DATA_PATH}",
                 f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={cfg.DATA_PREPARATION.SCANS_VAL_DATA_PATH}",
                 f"PREDICTION.RESULTS_PATH={tmp_path}",
                 f"RUN_DIR={cfg.RUN_DIR}"]
    monkeypatch.setenv("UNET3P_WORK_DIR", cfg.WORK_DIR)
    monkeypatch.setenv("UNET3P_OVERRIDES", " ".join(overrides))
    notebook = nbformat.read(os.path.join(REPO, "predict.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": REPO}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) == 3          # (a) directory, (b) list of names, (c) a CT volume
    assert os.path.isfile(tmp_path / "segmentation-3.nii.gz")
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"{len(list_files(cfg.DATASET.VAL.IMAGES_PATH))} images predicted" in text   # manifest.json aside
