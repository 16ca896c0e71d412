"""The trained model of a run: the configured network with the best weights train.py saved."""
import os
from typing import Callable, NamedTuple

import keras
from omegaconf import OmegaConf

from callbacks.checkpoint import checkpoint_path
from models.model_factory import model_builder
from run_dirs.run_dir import enclosing_run, load_run_config
from utils.errors import UserError
from runtime.devices import configure_precision

# What a weights file must agree on with the config to load: settings that change layer shapes.
ARCHITECTURE_KEYS = ("MODEL.TYPE", "MODEL.BACKBONE.TYPE", "MODEL.FILTERS", "MODEL.SKIP_FILTERS", "INPUT.CHANNELS",
                     "OUTPUT.CLASSES")


def describe_architecture(cfg) -> str:
    """'unet3plus_deepsup / backbone vgg16 (...)': how the error line names a model."""
    values = {key: OmegaConf.select(cfg, key, default=None) for key in ARCHITECTURE_KEYS}
    filters = list(values["MODEL.FILTERS"]) if values["MODEL.FILTERS"] is not None else None
    return (f"model type {values['MODEL.TYPE']} / backbone {values['MODEL.BACKBONE.TYPE']} "
            f"(FILTERS={filters}, SKIP_FILTERS={values['MODEL.SKIP_FILTERS']}, "
            f"{values['INPUT.CHANNELS']} channels, {values['OUTPUT.CLASSES']} classes)")


def architecture_mismatch(asked: str, weights_path: str):
    """One line naming what the weights hold and what the config asks for (`asked`: its describe_architecture),
    when their run's config differs; else None."""
    run_dir = enclosing_run(os.path.dirname(weights_path))
    if run_dir is None:
        return None
    held = describe_architecture(load_run_config(run_dir))
    if held == asked:
        return None
    return (f"weights {weights_path} hold {held}, but the config asks for {asked}: drop the MODEL/INPUT/OUTPUT "
            f"overrides (evaluate/predict read them from the run) or pick the matching RUN_DIR")


class TrainedModel(NamedTuple):
    """A run's trained network and what inference needs to know of it besides (deploy.backends)."""
    model: keras.Model
    weights_path: str                     # the weights file it holds: what a kept int8 model must be made from
    rebuild: Callable[[], keras.Model]    # the same architecture afresh (a copy in another precision), no config


def load_trained(cfg) -> TrainedModel:
    """The configured model with the weights train.py saved for it, in OPTIMIZATION.AMP's precision."""
    architecture = describe_architecture(cfg)
    path = checkpoint_path(cfg)
    if not os.path.isfile(path):
        raise UserError(f"no trained weights at {path}: the run has not finished an epoch yet, or "
                        f"run train.py first")
    mismatch = architecture_mismatch(architecture, path)
    if mismatch:
        raise UserError(mismatch)
    configure_precision(cfg)
    build = model_builder(cfg)
    model = build()
    try:
        model.load_weights(path)
    except Exception as err:  # h5py/Keras raise many types for truncated or mismatched files
        reason = " ".join(str(err).split())
        raise UserError(f"cannot load weights {path} into {model.name} ({architecture}): "
                        f"{reason[:300]}") from None
    return TrainedModel(model, path, build)


def load_trained_model(cfg) -> keras.Model:
    """load_trained's model alone."""
    return load_trained(cfg).model
