"""Check the prepared PNG slices before training on them, and draw a few pairs to look at.

    python data_preparation/verify_data.py
    python data_preparation/verify_data.py VERIFY.SAMPLES=8

Every image needs its mask and every mask its image; sizes must equal INPUT.HEIGHT x WIDTH, images
must have INPUT.CHANNELS channels and masks one channel with labels 0..2. Problems are listed and
the exit status is 2. A figure of random pairs goes to ${WORK_DIR}/results/verify_data.png.
With data=images your folders are checked as training checks them (data_sets/images.py).
"""
import app.tf_env  # noqa: F401  (before TensorFlow: no CUDA error line on CPU machines)

from omegaconf import DictConfig

from app.cli import hydra_app
from data_sets.verification import raise_on_problems, verify_dataset


def verify_and_report(cfg: DictConfig) -> None:
    """The Hydra task: verify both splits, exit 2 with a summary when anything is wrong."""
    raise_on_problems(verify_dataset(cfg))


main = hydra_app(verify_and_report)


if __name__ == "__main__":
    main()
