"""predict.ipynb runs top to bottom headless on the synthetic data and draws its figures."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import REPO

pytestmark = pytest.mark.slow   # runs a Jupyter kernel on a trained model


def test_notebook_executes_and_shows_figures(trained, monkeypatch):
    cfg, _ = trained
    overrides = [f"DATA_PREPARATION.PROCESSED_DATA_PATH={cfg.DATA_PREPARATION.PROCESSED_DATA_PATH}",
                 "INPUT.HEIGHT=64", "INPUT.WIDTH=64", "MODEL.FILTERS=[8,16,32,64,128]", "MODEL.SKIP_FILTERS=8",
                 "HYPER_PARAMETERS.BATCH_SIZE=4"]
    monkeypatch.setenv("UNET3P_WORK_DIR", cfg.WORK_DIR)
    monkeypatch.setenv("UNET3P_OVERRIDES", " ".join(overrides))
    notebook = nbformat.read(os.path.join(REPO, "predict.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": REPO}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) == 2          # (a) directory and (b) list of names
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"{len(os.listdir(cfg.DATASET.VAL.IMAGES_PATH))} images predicted" in text
