"""`--config-name recipe` against NVIDIA's UNet3P recipe: figures taken from the recipe's own code.

The recipe is NVIDIA DeepLearningExamples, TensorFlow2/Segmentation/Contrib/UNet3P, last changed in
commit d56fe703b034bf70d5e3aab4e1fec7bbe3d7735b (read at 729963dd47e7c8bd462ad10bfac7a7b0b604e6dd).
Its model and loss code imports under TF 2.20 / Keras 3.15, so the figures below were computed once by
running it (a throwaway script, not kept) and are recorded here with the lines they come from:

- parameters: models/model.py prepare_model(cfg, training=True) with OUTPUT.CLASSES=2 (config.yaml
  line 49), filters [64, 128, 256, 512, 1024] (model.py line 23); model.count_params(). Every conv of
  models/unet3plus_utils.py conv_block (lines 13-21) has a bias, he_normal(seed=5), l2(1e-4) and a
  BatchNormalization() (momentum 0.99) unless is_bn=False; the VGG encoders are keras.applications
  VGG16/VGG19 with weights=None (backbones.py lines 12-16, 35-39), not regularised. The deep-supervision
  model has its four side heads only when training (unet3plus_deep_supervision.py lines 106-127).
- regularised kernels: the layers with a kernel_regularizer (= len(model.losses)).
- loss: losses/unet_loss.py unet3p_hybrid_loss (focal alpha 4 gamma 2, loss.py lines 28-46; 1 - tf.image.ssim,
  lines 49-56; 1 - IoU, lines 8-25) on `fixed_batch()`.
- validation Dice: losses/loss.py DiceCoefficient(post_processed=True, classes=2) (lines 59-114, as train.py
  lines 98-99 use it) on `fixed_batch()`; its update_state had to be called on a stand-in object, since
  its add_weight(aggregation=...) is Keras 2 only.
"""
import numpy as np
import pytest
from omegaconf import OmegaConf

from losses.metrics import HardDiceCoefficient
from models.model_factory import compile_arguments, prepare_model, regularised_kernels
from tests.helpers import REPO, run_main
from app.config import compose_config

# (MODEL.TYPE, MODEL.BACKBONE.TYPE) -> (parameters, regularised kernels, BatchNormalization layers)
RECIPE_MODELS = {
    ("unet3plus", "unet3plus"): (26_987_714, 35, 34),
    ("unet3plus", "vgg16"): (21_663_682, 25, 24),
    ("unet3plus", "vgg19"): (26_973_378, 25, 24),
    ("unet3plus_deepsup", "unet3plus"): (27_023_434, 39, 34),
    ("unet3plus_deepsup", "vgg16"): (21_690_186, 29, 24),
    ("unet3plus_deepsup", "vgg19"): (26_999_882, 29, 24),
}
RECIPE_LOSS = 1.6016221046447754          # unet3p_hybrid_loss(fixed_batch())
RECIPE_LOSS_TERMS = (0.4155360460281372, 0.7055211067199707, 0.4805649518966675)   # focal, 1 - SSIM, 1 - IoU
RECIPE_HARD_DICE = 0.4770282506942749     # DiceCoefficient(post_processed=True, classes=2), fixed_batch()
RECIPE_HARD_DICE_EMPTY = 0.7470816969871521   # the same with image 2 emptied (no truth, no predicted liver)


def fixed_batch():
    """Two 32x32 two-class images: one-hot truths (a box, a disc) and softmax predictions that miss in places."""
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    labels = np.stack([(np.abs(x - 12) < 8) & (np.abs(y - 14) < 6),
                       (x - 20) ** 2 + (y - 18) ** 2 < 64]).astype(np.int64)
    truth = np.eye(2, dtype=np.float32)[labels]
    margin = 1.0 * (2 * labels - 1) + 1.5 * np.sin(x / 3.0 + y / 5.0)
    logits = np.stack([np.zeros_like(margin), margin], axis=-1)
    prediction = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return truth, prediction.astype(np.float32)


def recipe_config(*overrides):
    return compose_config(["INPUT.HEIGHT=32", "INPUT.WIDTH=32", *overrides], config_name="recipe")


@pytest.mark.slow
@pytest.mark.parametrize("model_type,backbone", RECIPE_MODELS)
def test_the_presets_models_have_the_recipes_parameters_and_regularised_kernels(model_type, backbone):
    import keras

    model = prepare_model(recipe_config(f"MODEL.TYPE={model_type}", f"MODEL.BACKBONE.TYPE={backbone}"))
    parameters, regularised, batch_norms = RECIPE_MODELS[model_type, backbone]
    assert model.count_params() == parameters
    assert len(regularised_kernels(model)) == len(model.losses) == regularised
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == batch_norms and {layer.momentum for layer in norms} == {0.99}
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.use_bias for layer in convs)
    own = [layer for layer in convs if not layer.name.startswith("block")]   # VGG's are keras.applications' block*
    assert len(own) == regularised
    assert all(type(layer.kernel_initializer).__name__ == "HeNormal" and layer.kernel_initializer.seed == 5
               for layer in own)


def test_two_layers_of_one_shape_start_from_the_same_seeded_he_normal_weights():
    """The recipe seeds every conv's he_normal with 5: same shape, same initial kernel."""
    model = prepare_model(recipe_config("MODEL.BACKBONE.TYPE=unet3plus", "MODEL.FILTERS=[8,16,32,64,128]",
                                        "MODEL.SKIP_FILTERS=8"))
    first, second = (model.get_layer(f"decoder{level}_from_e1_conv").kernel.numpy() for level in (4, 3))
    assert first.shape == second.shape == (3, 3, 8, 8)
    np.testing.assert_array_equal(first, second)
    assert np.std(first) == pytest.approx(np.sqrt(2.0 / (3 * 3 * 8)), rel=0.2)   # he_normal: sqrt(2 / fan_in)


def test_the_presets_loss_gives_the_recipes_value_on_a_fixed_batch():
    cfg = recipe_config()
    loss = compile_arguments(cfg.MODEL.TYPE, cfg.LOSS)["loss"]["d1"]
    truth, prediction = fixed_batch()
    assert float(np.mean(loss(truth, prediction))) == pytest.approx(RECIPE_LOSS, rel=1e-5)
    assert sum(RECIPE_LOSS_TERMS) == pytest.approx(RECIPE_LOSS, rel=1e-6)


def test_the_hard_dice_is_the_recipes_validation_metric():
    truth, prediction = fixed_batch()
    metric = HardDiceCoefficient()
    metric.update_state(truth, prediction)
    assert float(metric.result()) == pytest.approx(RECIPE_HARD_DICE, rel=1e-6)
    truth[1], prediction[1] = [1.0, 0.0], [0.9, 0.1]   # an image with no liver, none predicted: scores 1
    metric.reset_state()
    metric.update_state(truth, prediction)
    assert float(metric.result()) == pytest.approx(RECIPE_HARD_DICE_EMPTY, rel=1e-6)


@pytest.mark.slow
def test_the_recipe_preset_shows_the_recipes_choices():
    result = run_main("train.py", "--config-name", "recipe", "--cfg", "job", cwd=REPO)
    assert result.returncode == 0, result.stderr
    shown = OmegaConf.create(result.stdout)
    assert shown.OUTPUT.CLASSES == 2
    assert shown.DATA_PREPARATION.SKIP_TRAIN_SLICES_WITHOUT_LIVER is False
    assert (shown.DATA_PREPARATION.INTENSITY_SCALING, shown.DATA_PREPARATION.ORIENTATION) == ("slice_min_max", "recipe")
    assert (shown.MODEL.BACKBONE.TYPE, shown.MODEL.FILTERS, shown.MODEL.SKIP_FILTERS) == ("vgg19", [64, 128, 256, 512, 1024], 64)
    assert shown.MODEL.CONV_BIAS is True and shown.MODEL.KERNEL_INITIALIZER == "he_normal"
    assert (shown.MODEL.INITIALIZER_SEED, shown.MODEL.BATCH_NORM_MOMENTUM) == (5, 0.99)
    assert shown.DATA_GENERATOR_TYPE == "DALI_GENERATOR" and shown.USE_MULTI_GPUS.VALUE is True
    assert (shown.HYPER_PARAMETERS.BATCH_SIZE, shown.HYPER_PARAMETERS.DROP_LAST_BATCH) == (16, True)
    assert (shown.OPTIMIZATION.AMP, shown.OPTIMIZATION.XLA) == ("float16", True)
    early = shown.CALLBACKS.EARLY_STOPPING
    assert (early.VALUE, early.PATIENCE, early.MONITOR) == (True, 100, "val_loss")
    assert shown.CALLBACKS.MODEL_CHECKPOINT.MONITOR == "hard_dice_coef"
    assert (shown.LOSS.FOCAL.ALPHA, shown.LOSS.SSIM.SCALES) == (4.0, 1)
    assert (shown.LOSS.L2_WEIGHT_DECAY, shown.LOSS.L2_VGG_KERNELS) == (1e-4, False)


def test_float16_with_loss_scaling_under_the_preset():
    import keras

    from runtime.devices import make_optimizer, precision_of

    cfg = recipe_config()
    assert precision_of(cfg.OPTIMIZATION.AMP) == "float16"
    assert isinstance(make_optimizer(cfg), keras.optimizers.LossScaleOptimizer)


def recipe_linear_scale(hu_slices, low=-200, high=250):
    """The recipe's preprocess_data.py clip_scan + linear_scale + np.uint8 (lines 43-55, 123-130), verbatim."""
    img = np.clip(hu_slices, low, high)
    img = (img - img.min(axis=(0, 1))) / (img.max(axis=(0, 1)) - img.min(axis=(0, 1)))
    return np.uint8(img * 255)


def test_slice_min_max_scaling_is_the_recipes():
    from volumes.slices import SliceSettings, input_slice

    rng = np.random.default_rng(0)
    hu = rng.uniform(-1000, 1000, (24, 20, 5)).astype(np.float32)
    hu[:, :, 3] = rng.uniform(-150, 50, (24, 20))      # a slice well inside the window: stretched to 0..255
    settings = SliceSettings(-200, 250, None, 3, intensity_scaling="slice_min_max")
    for index in range(5):
        image = input_slice(hu, index, settings)
        neighbours = hu[:, :, [max(index - 1, 0), index, min(index + 1, 4)]]
        np.testing.assert_array_equal(image, recipe_linear_scale(neighbours))
        assert image.dtype == np.uint8 and image[..., 1].min() == 0 and image[..., 1].max() == 255
    constant = np.full((8, 8, 3), -500.0, np.float32)   # all below the window: the recipe divides 0 by 0
    assert not input_slice(constant, 1, settings).any()


def write_lps_nifti(path, hu):
    """hu stored with x and y reversed (LPS, as many LiTS files are), the affine saying so."""
    import nibabel as nib

    affine = np.diag([-0.8, -0.8, 2.0, 1.0])
    affine[:2, 3] = [0.8 * (hu.shape[0] - 1), 0.8 * (hu.shape[1] - 1)]
    stored = np.ascontiguousarray(hu[::-1, ::-1])
    nib.save(nib.Nifti1Image(stored, affine), str(path))
    return str(path), stored


def test_the_recipe_orientation_cuts_slices_from_the_files_own_array_rotated(tmp_path):
    from volumes.nifti import load_volume
    from volumes.slices import from_slicing_frame, to_slicing_frame

    hu = np.arange(6 * 4 * 3, dtype=np.float32).reshape(6, 4, 3)
    path, stored = write_lps_nifti(tmp_path / "volume-1.nii", hu)
    volume = load_volume(path)
    np.testing.assert_array_equal(volume.data, hu)                       # RAS+: as the default slices it
    frame = to_slicing_frame(volume.data, volume.source, "recipe")
    np.testing.assert_array_equal(frame, np.rot90(stored))               # the recipe's read_nii (line 29)
    np.testing.assert_array_equal(from_slicing_frame(frame, volume.source, "recipe"), hu)
    assert to_slicing_frame(volume.data, volume.source, "ras") is volume.data


def test_volumes_predicted_in_the_recipe_orientation_come_back_on_the_cts_grid(tmp_path):
    """A pixel-wise 'network' (liver where the centre channel is bright) gives the same RAS+ labels in both frames."""
    from inference.volume import predict_volume
    from volumes.nifti import load_volume
    from volumes.slices import SliceSettings

    rng = np.random.default_rng(1)
    hu = rng.uniform(-300, 300, (12, 8, 5)).astype(np.float32)
    volume = load_volume(write_lps_nifti(tmp_path / "volume-2.nii", hu)[0])

    def network(images):
        liver = images[..., 1] > 0.5
        return np.stack([~liver, liver], axis=-1).astype(np.float32)

    labels = {orientation: predict_volume(volume.data, network, SliceSettings(-200, 250, None, 3, orientation=orientation),
                                          batch_size=2, source=volume.source).labels
              for orientation in ("ras", "recipe")}
    assert labels["ras"].shape == labels["recipe"].shape == hu.shape
    np.testing.assert_array_equal(labels["recipe"], labels["ras"])
    assert 0 < labels["ras"].mean() < 1


@pytest.mark.parametrize("override,message", [
    ("MODEL.BATCH_NORM_MOMENTUM=1.5", "MODEL.BATCH_NORM_MOMENTUM must be a number from 0 to 1, got 1.5"),
    ("MODEL.INITIALIZER_SEED=-1", "MODEL.INITIALIZER_SEED must be null or an integer from 0 to 2**32 - 1, got -1"),
    ("LOSS.L2_WEIGHT_DECAY=-0.1", "LOSS.L2_WEIGHT_DECAY must be a number >= 0, got -0.1"),
])
def test_bad_conv_options_name_the_key(tmp_path, override, message):
    from models.model_factory import conv_options
    from tests.helpers import tiny_config
    from utils.errors import UserError

    with pytest.raises(UserError) as raised:
        conv_options(tiny_config(tmp_path, override))
    assert str(raised.value) == message


def test_kernel_initializer_names_are_checked_with_the_config(tmp_path):
    from tests.helpers import tiny_config
    from app.config import validate_config
    from utils.errors import UserError

    with pytest.raises(UserError, match="^MODEL.KERNEL_INITIALIZER must be one of glorot_uniform, he_normal; got 'zeros'$"):
        validate_config(tiny_config(tmp_path, "MODEL.KERNEL_INITIALIZER=zeros"))
