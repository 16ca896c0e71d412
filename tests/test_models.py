"""UNet 3+ models: outputs of every type and backbone, decoder layout, CGM gate, weights, targets."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from models.backbones import BACKBONES, build_encoder
from models.model_factory import (FINAL_OUTPUT, MODEL_VARIANTS, compile_arguments, make_targets, output_names,
                                  prepare_model)
from models.unet3plus import ClassificationGate
from tests.helpers import PAPER_FILTERS, tiny_config
from utils.errors import UserError

SIZE = 32   # smallest input VGG accepts; 4 poolings leave 2x2 at e5


def small_config(tmp_path, *overrides):
    """The paper's five levels (VGG's too), slim, at SIZE x SIZE."""
    return tiny_config(tmp_path, f"INPUT.HEIGHT={SIZE}", f"INPUT.WIDTH={SIZE}", PAPER_FILTERS, *overrides)


def outputs_by_name(model):
    return dict(zip(model.output_names, model.outputs))


# Every model type on the plain encoder, and every other backbone (seconds each to build) in the slow tier.
TYPE_AND_BACKBONE = [(model_type, backbone) if backbone == "unet3plus" else
                     pytest.param(model_type, backbone, marks=pytest.mark.slow)
                     for backbone in BACKBONES for model_type in MODEL_VARIANTS]


@pytest.mark.parametrize("model_type,backbone", TYPE_AND_BACKBONE)
def test_every_type_and_backbone_gives_named_full_resolution_distributions(tmp_path, model_type, backbone):
    model = prepare_model(small_config(tmp_path, f"MODEL.TYPE={model_type}", f"MODEL.BACKBONE.TYPE={backbone}"))
    assert model.name == f"{model_type}_{backbone}"
    symbolic = outputs_by_name(model)
    assert sorted(symbolic) == sorted(output_names(model_type))
    assert FINAL_OUTPUT in symbolic
    predictions = model(np.random.default_rng(0).random((2, SIZE, SIZE, 3), dtype=np.float32))
    assert sorted(predictions) == sorted(symbolic)
    for name, output in symbolic.items():
        expected = (1,) if name == "cls" else (SIZE, SIZE, 3)   # deep supervision heads too: full resolution
        assert tuple(output.shape[1:]) == expected and output.dtype == "float32"
        value = np.asarray(predictions[name])
        assert value.shape == (2, *expected)
        if name == "cls":
            assert np.all((value >= 0) & (value <= 1))
        else:
            np.testing.assert_allclose(value.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_encoders_give_five_maps_at_halving_scales(backbone):
    features = build_encoder(keras.Input((SIZE, SIZE, 1)), backbone, [8, 16, 32, 64, 128])
    assert [tuple(f.shape[1:3]) for f in features] == [(SIZE // 2 ** i,) * 2 for i in range(5)]
    widths = [8, 16, 32, 64, 128] if backbone == "unet3plus" else [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in features] == widths


def test_each_decoder_stage_fuses_five_scales_into_five_times_skip_filters(tmp_path):
    model = prepare_model(small_config(tmp_path, "MODEL.SKIP_FILTERS=8"))
    for level in (1, 2, 3, 4):
        concat = model.get_layer(f"decoder{level}_concat")
        assert len(concat.input) == 5 and all(x.shape[-1] == 8 for x in concat.input)
        assert model.get_layer(f"decoder{level}_fuse_conv").filters == 40
        assert model.get_layer(f"decoder{level}_fuse_relu").output.shape[1:] == (SIZE // 2 ** (level - 1),) * 2 + (40,)
    # d1 gets e1 directly and d2, d3, d4, e5 bilinearly upsampled by 2, 4, 8, 16
    assert [model.get_layer(f"decoder1_from_{s}_up").size for s in ("d2", "d3", "d4", "e5")] == [
        (2, 2), (4, 4), (8, 8), (16, 16)]
    assert [model.get_layer(f"decoder4_from_e{i}_pool").pool_size for i in (1, 2, 3)] == [(8, 8), (4, 4), (2, 2)]


def test_fewer_levels_make_a_shallower_unet3plus_with_every_head(tmp_path):
    """MODEL.FILTERS of 3 values: 3 encoder levels, decoder stages d1, d2 fusing 3 scales each, and deep supervision's
    heads d1, d2, e3 (each at full resolution), the CGM classifier on e3; targets and losses follow."""
    model = prepare_model(small_config(tmp_path, "MODEL.FILTERS=[8,16,32]", "MODEL.SKIP_FILTERS=8",
                                       "MODEL.TYPE=unet3plus_deepsup_cgm"))
    assert sorted(model.output_names) == sorted(output_names("unet3plus_deepsup_cgm", 3)) == ["cls", "d1", "d2", "e3"]
    for level in (1, 2):
        assert len(model.get_layer(f"decoder{level}_concat").input) == 3
        assert model.get_layer(f"decoder{level}_fuse_conv").filters == 24
    assert "decoder3_concat" not in [layer.name for layer in model.layers]
    assert [model.get_layer(f"decoder1_from_{s}_up").size for s in ("d2", "e3")] == [(2, 2), (4, 4)]
    assert model.get_layer("encoder3_2_relu").output.shape[1:] == (SIZE // 4, SIZE // 4, 32)
    predictions = model(np.random.default_rng(0).random((2, SIZE, SIZE, 3), dtype=np.float32))
    assert all(predictions[name].shape == (2, SIZE, SIZE, 3) for name in ("d1", "d2", "e3"))
    targets = make_targets("unet3plus_deepsup_cgm", one_hot_batch(), levels=3)
    assert sorted(targets) == sorted(compile_arguments("unet3plus_deepsup_cgm", levels=3)["loss"]) == sorted(
        model.output_names)


@pytest.mark.slow
def test_parameters_grow_with_filters(tmp_path):
    small = prepare_model(small_config(tmp_path)).count_params()
    wider = prepare_model(small_config(tmp_path, "MODEL.FILTERS=[16,32,64,128,256]")).count_params()
    wider_skips = prepare_model(small_config(tmp_path, "MODEL.SKIP_FILTERS=16")).count_params()
    assert small < wider and small < wider_skips


@pytest.mark.usefixtures("keras_policy")   # sets the global precision policy
def test_outputs_stay_float32_under_mixed_precision(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = prepare_model(small_config(tmp_path, "MODEL.TYPE=unet3plus_deepsup_cgm"))
    assert model.get_layer("decoder1_fuse_conv").compute_dtype == "float16"
    assert all(output.dtype == "float32" for output in model.outputs)


def test_gate_keeps_or_clears_foreground_per_image():
    probabilities = tf.constant(np.random.default_rng(0).dirichlet([1, 1, 1], size=(2, 4, 4)), tf.float32)
    organ = tf.Variable([[0.2], [0.9]])
    with tf.GradientTape() as tape:
        gated = ClassificationGate()(probabilities, organ)
        total = tf.reduce_sum(gated * tf.range(3, dtype=tf.float32))
    np.testing.assert_allclose(gated[0], np.broadcast_to([1.0, 0.0, 0.0], (4, 4, 3)))   # no organ: pure background
    np.testing.assert_allclose(gated[1], probabilities[1], atol=1e-6)                    # organ: unchanged
    gradient = tape.gradient(total, organ)
    assert gradient is None or not np.any(gradient)   # the threshold is not trained by segmentation losses
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ClassificationGate(0.7)))
    assert isinstance(clone, ClassificationGate) and clone.threshold == 0.7


def test_unknown_type_or_backbone_lists_valid_values(tmp_path):
    with pytest.raises(UserError, match="unet3plus_deepsup_cgm"):
        prepare_model(small_config(tmp_path, "MODEL.TYPE=unet4"))
    with pytest.raises(UserError, match="vgg19"):
        prepare_model(small_config(tmp_path, "MODEL.BACKBONE.TYPE=resnet50"))
    with pytest.raises(UserError, match="unet3plus_deepsup"):
        output_names("unet4")


def test_missing_or_misplaced_backbone_weights_are_user_errors(tmp_path):
    missing = tmp_path / "absent" / "vgg16_notop.h5"
    with pytest.raises(UserError, match=str(missing)):
        prepare_model(small_config(tmp_path, "MODEL.BACKBONE.TYPE=vgg16", f"MODEL.BACKBONE.WEIGHTS={missing}"))
    with pytest.raises(UserError, match="only applies to the vgg16/vgg19"):
        prepare_model(small_config(tmp_path, f"MODEL.BACKBONE.WEIGHTS={missing}"))


@pytest.mark.slow
@pytest.mark.parametrize("file_name,channels", [("vgg16.weights.h5", 3), ("vgg16_legacy.h5", 1)])
def test_local_vgg_weights_load_into_the_backbone(tmp_path, file_name, channels):
    """Keras 3 weight files, and legacy .h5 files like keras.applications' (matched by layer name)."""
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    path = tmp_path / file_name
    if file_name.endswith(".weights.h5"):
        source.save_weights(path)
    else:
        source.save(path)   # legacy HDF5: layer names under model_weights, as keras.applications ships
    model = prepare_model(small_config(tmp_path, "MODEL.BACKBONE.TYPE=vgg16", f"MODEL.BACKBONE.WEIGHTS={path}",
                                       f"INPUT.CHANNELS={channels}"))
    for name in ("block1_conv2", "block3_conv3", "block5_conv3"):
        for loaded, saved in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(loaded, saved)
    first = model.get_layer("block1_conv1").get_weights()[0]
    assert first.shape == (3, 3, channels, 64)   # a 1-channel model keeps its own first conv


def one_hot_batch():
    """Three 8x8 masks: background only, one liver pixel, one tumour pixel."""
    labels = np.zeros((3, 8, 8), dtype=np.int64)
    labels[1, 2, 3] = 1
    labels[2, 5, 5] = 2
    return np.eye(3, dtype=np.float32)[labels]


@pytest.mark.parametrize("model_type", MODEL_VARIANTS)
def test_targets_match_the_outputs(model_type):
    masks = one_hot_batch()
    targets = make_targets(model_type, masks)
    assert sorted(targets) == sorted(output_names(model_type)) == sorted(compile_arguments(model_type)["loss"])
    for name, target in targets.items():
        if name == "cls":
            assert target.dtype == "float32"
            np.testing.assert_array_equal(target, [[0.0], [1.0], [1.0]])
        else:
            np.testing.assert_array_equal(target, masks)


def test_targets_work_inside_tf_data_map():
    dataset = tf.data.Dataset.from_tensor_slices(one_hot_batch()).batch(3)
    targets = next(iter(dataset.map(lambda masks: make_targets("unet3plus_deepsup_cgm", masks))))
    np.testing.assert_array_equal(targets["cls"], [[0.0], [1.0], [1.0]])
    assert targets["e5"].shape == (3, 8, 8, 3)


def test_compile_arguments_put_dice_on_the_final_output_only():
    arguments = compile_arguments("unet3plus_deepsup_cgm")
    assert list(arguments["metrics"]) == [FINAL_OUTPUT]
    assert arguments["loss"]["cls"] is keras.losses.binary_crossentropy
    assert set(arguments["loss_weights"]) == set(arguments["loss"])
