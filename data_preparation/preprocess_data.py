"""Turn CT volumes (LiTS NIfTI, or DICOM series with a DICOM SEG) into the PNG slices the generators read.

    python data_preparation/preprocess_data.py
    python data_preparation/preprocess_data.py INPUT.CHANNELS=1 DATA_PREPARATION.WORKERS=8

For every volume-N / segmentation-N pair (and every DICOM CT series with the DICOM SEG referencing
it; volume id: the series' pseudonym) in DATA_PREPARATION.SCANS_{TRAIN,VAL}_DATA_PATH it
writes `image_N_SSSS.png` (HU windowed to 0-255; 1 slice, or slices i-1, i, i+1 as channels) and
`mask_N_SSSS.png` (raw labels 0/1/2) into DATASET.{TRAIN,VAL}.{IMAGES_PATH,MASK_PATH}. Volumes are
read in RAS+ orientation whatever their files' orientation (volumes.nifti), and images and masks
are resized with one pixel-centre convention (volumes.geometry). A corrupt, non-3D, NaN or constant
volume, or a segmentation with labels other than 0/1/2, is reported with one `warning:` line and
skipped; the others are still written, and the prepared folders then hold exactly the volumes
that succeeded in this run (data_sets/preparation.py).
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from app.cli import hydra_app
from data_sets.preparation import prepare_checked_dataset
from run_dirs.run_dir import command_line_keys


def preprocess_job(cfg: DictConfig) -> dict:
    """The Hydra task: both splits prepared; the keys this command line set win over the data set's description."""
    return prepare_checked_dataset(cfg, command_line_keys())


main = hydra_app(preprocess_job)


if __name__ == "__main__":
    main()
