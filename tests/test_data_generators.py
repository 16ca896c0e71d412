"""TF and DALI generators: batches, shuffling, sharding, equality, and clear errors."""
import keras
import numpy as np
import pytest

from data_generators import dali_data_generator
from data_generators.data_generator import FollowKerasEpoch, get_data_generator
from data_generators.dataset_files import list_pairs, list_split_pairs
from data_generators.sampling import EpochSampler
from data_generators.tf_data_generator import SliceSequence
from tests.helpers import tiny_config
from utils.errors import UserError
from data_sets.image_files import png_shape, read_mask, write_png
from volumes.slices import ImageSettings

needs_dali = pytest.mark.skipif(dali_data_generator.dali_import_error() is not None,
                                reason="NVIDIA DALI not installed")


def test_sampler_shards_are_disjoint_and_cover_everything():
    shards = [EpochSampler(10, 3, shuffle=True, seed=1, shard_id=k, num_shards=3, last_batch="partial")
              for k in range(3)]
    seen = np.concatenate([s.epoch_order(0) for s in shards])
    assert sorted(seen.tolist()) == list(range(10))
    assert set(shards[0].epoch_order(0)).isdisjoint(shards[1].epoch_order(0))


def test_sampler_shuffles_per_epoch_reproducibly_and_pads_last_batch():
    sampler = EpochSampler(10, 4, shuffle=True, seed=7, last_batch="pad")
    first, second = sampler.epoch_order(0), sampler.epoch_order(1)
    assert len(first) == 12 and sampler.steps_per_epoch == 3
    assert sorted(set(first.tolist())) == list(range(10))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, EpochSampler(10, 4, shuffle=True, seed=7).epoch_order(0))
    assert not np.array_equal(first, EpochSampler(10, 4, shuffle=True, seed=8).epoch_order(0))


def test_dali_input_files_follow_the_sampler_across_epochs(tmp_path):
    """DALI's input dataset yields each file's bytes in the sampler's order, epoch after epoch."""
    from data_generators.dali_data_generator import encoded_files_dataset

    paths = []
    for item in range(5):
        paths.append(str(tmp_path / f"file{item}.bin"))
        np.full(item + 1, item, dtype=np.uint8).tofile(paths[-1])   # file i holds i+1 bytes of value i
    sampler = EpochSampler(5, 2, shuffle=True, seed=3)
    files = encoded_files_dataset(paths, sampler)
    expected = np.concatenate([sampler.epoch_order(0), sampler.epoch_order(1), sampler.epoch_order(2)])
    read = [int(data[0]) for data in files.take(len(expected)).as_numpy_iterator()]
    assert read == expected.tolist() and len(expected) == 18
    sampler.first_epoch = 2   # a resumed run: a new iterator starts at epoch 2
    read = [int(data[0]) for data in files.take(12).as_numpy_iterator()]
    assert read == np.concatenate([sampler.epoch_order(2), sampler.epoch_order(3)]).tolist()


def test_follow_keras_epoch_sets_every_epoch_or_only_where_a_fit_starts():
    epochs, starts = [], []
    every, first = FollowKerasEpoch(epochs.append), FollowKerasEpoch(starts.append, only_first=True)
    for begin, run in ((3, (3, 4, 5)), (0, (0, 1))):   # a fit resumed at epoch 3, then a new fit
        for callback in (every, first):
            callback.on_train_begin()
            for epoch in run:
                callback.on_epoch_begin(epoch)
    assert epochs == [3, 4, 5, 0, 1]
    assert starts == [3, 0]


def test_sampler_rejects_bad_shard():
    with pytest.raises(ValueError):
        EpochSampler(10, 2, False, 0, shard_id=3, num_shards=3)


def test_pairs_listing_reports_image_without_mask(tmp_path, prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    images, masks = list_split_pairs(cfg, "train")
    assert len(images) == len(masks) > 0
    images_dir = tmp_path / "images"
    masks_dir = tmp_path / "mask"
    images_dir.mkdir()
    masks_dir.mkdir()
    (images_dir / "image_0_0001.png").write_bytes(b"x")
    (masks_dir / "mask_0_0002.png").write_bytes(b"x")
    with pytest.raises(UserError, match="image_0_0001.png has no mask"):
        list_pairs(str(images_dir), str(masks_dir), "image", "mask")
    with pytest.raises(UserError, match="not found"):
        list_pairs(str(tmp_path / "nope"), str(masks_dir), "image", "mask")


def test_png_shape_reads_the_header_of_gray_and_rgb_slices_and_refuses_a_broken_one(tmp_path):
    write_png(str(tmp_path / "gray.png"), np.zeros((40, 24), np.uint8))
    write_png(str(tmp_path / "rgb.png"), np.zeros((16, 32, 3), np.uint8))
    assert png_shape(str(tmp_path / "gray.png")) == (40, 24, 1)
    assert png_shape(str(tmp_path / "rgb.png")) == (16, 32, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(UserError, match="broken.png \\(missing or corrupt PNG\\)"):
        png_shape(str(tmp_path / "broken.png"))


@pytest.mark.parametrize("override,message", [
    ("INPUT.HEIGHT=96", "is 64x64, the network's input \\(INPUT\\) is 96x64: prepare the slices at that size "
                        "\\(DATA_PREPARATION.RESIZE=True\\) or set INPUT.HEIGHT=64 INPUT.WIDTH=64"),
    ("INPUT.CHANNELS=1", "has 3 channel\\(s\\), INPUT.CHANNELS is 1: prepare the slices with INPUT.CHANNELS=1 "
                         "or set INPUT.CHANNELS=3"),
])
def test_slices_of_another_shape_than_the_input_are_refused_before_training(prepared_workdir, override, message):
    for mode in ("train", "val"):
        with pytest.raises(UserError, match=f"^{prepared_workdir}/data/processed/{mode}/images/image_.*{message}$"):
            list_split_pairs(tiny_config(prepared_workdir, override), mode)


def test_tf_generator_batches_match_files(prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    feed = get_data_generator(cfg, "val")
    images, masks = feed.data[0]
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.float32
    assert masks.shape == (4, 64, 64, 3)
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_array_equal(masks.sum(axis=-1), 1.0)
    image_paths, mask_paths = list_split_pairs(cfg, "val")
    np.testing.assert_array_equal(np.argmax(masks[0], -1), read_mask(mask_paths[0]))
    # validation covers every slice exactly once, the last batch may be smaller
    total = sum(len(feed.data.batch_indices(s)) for s in range(feed.steps))
    assert total == len(image_paths)


@pytest.mark.parametrize("generator", ["TF_GENERATOR", "DALI_GENERATOR"])
def test_a_training_batch_larger_than_the_training_slices_is_refused(prepared_workdir, generator):
    slices = len(list_split_pairs(tiny_config(prepared_workdir), "train")[0])
    cfg = tiny_config(prepared_workdir, f"HYPER_PARAMETERS.BATCH_SIZE={slices + 1}", f"DATA_GENERATOR_TYPE={generator}")
    with pytest.raises(UserError) as raised:
        get_data_generator(cfg, "train")
    assert str(raised.value) == (f"HYPER_PARAMETERS.BATCH_SIZE={slices + 1} (x 1 replica(s)) is larger than the "
                                 f"{slices} training slices: lower HYPER_PARAMETERS.BATCH_SIZE")
    # validation batches are not padded: any size will do
    assert get_data_generator(tiny_config(prepared_workdir, f"HYPER_PARAMETERS.BATCH_SIZE={slices + 1}"), "val").steps


def test_tf_generator_two_classes_merges_tumour_into_liver(prepared_workdir):
    cfg = tiny_config(prepared_workdir, "OUTPUT.CLASSES=2")
    sequence = get_data_generator(cfg, "train").data
    _, mask_paths = list_split_pairs(cfg, "train")
    labels = read_mask(mask_paths[0])
    _, one_hot = sequence.load_pair(0)
    np.testing.assert_array_equal(np.argmax(one_hot, -1), np.minimum(labels, 1))


def test_tf_generator_shuffles_each_epoch_and_applies_target_fn(prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    feed = get_data_generator(cfg, "train", target_fn=lambda masks: {"d1": masks, "n": len(masks)})
    order_epoch0 = feed.data.batch_indices(0).copy()
    _, targets = feed.data[0]
    assert targets["n"] == 4 and targets["d1"].shape == (4, 64, 64, 3)
    feed.data.on_epoch_end()
    assert not np.array_equal(order_epoch0, feed.data.batch_indices(0))


def test_augmentation_flips_image_and_mask_together(prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    image_paths, mask_paths = list_split_pairs(cfg, "train")
    plain = SliceSequence(image_paths, mask_paths, 4, 3, ImageSettings(3), seed=0)
    augmented = SliceSequence(image_paths, mask_paths, 4, 3, ImageSettings(3), seed=0, augment_data=True)
    x0, y0 = plain[0]
    x1, y1 = augmented[0]
    assert not np.allclose(x0, x1)
    for i in range(4):   # each augmented mask is a flip of the original one
        flips = [y0[i], y0[i, :, ::-1], y0[i, ::-1], y0[i, ::-1, ::-1]]
        assert any(np.array_equal(y1[i], f) for f in flips)


def test_sequence_shards_split_the_files(prepared_workdir):
    cfg = tiny_config(prepared_workdir)
    image_paths, mask_paths = list_split_pairs(cfg, "train")
    shards = [SliceSequence(image_paths, mask_paths, 2, 3, ImageSettings(3), shard_id=k, num_shards=2) for k in range(2)]
    indices = [set(np.concatenate([s.batch_indices(i) for i in range(len(s))]).tolist()) for s in shards]
    assert indices[0].isdisjoint(indices[1])
    assert indices[0] | indices[1] == set(range(len(image_paths)))


@needs_dali
@pytest.mark.parametrize("classes", [3, 2])
def test_dali_batches_equal_tf_batches_for_same_seed(prepared_workdir, classes):
    tf_cfg = tiny_config(prepared_workdir, f"OUTPUT.CLASSES={classes}")
    dali_cfg = tiny_config(prepared_workdir, "DATA_GENERATOR_TYPE=DALI_GENERATOR", f"OUTPUT.CLASSES={classes}")
    tf_feed = get_data_generator(tf_cfg, "train")
    dali_feed = get_data_generator(dali_cfg, "train")
    assert dali_feed.steps == tf_feed.steps
    dali_batches = iter(dali_feed.data)
    for epoch in range(2):   # second epoch: both reshuffle the same way
        for step in range(tf_feed.steps):
            tf_images, tf_masks = tf_feed.data[step]
            dali_images, dali_masks = (t.numpy() for t in next(dali_batches))
            np.testing.assert_allclose(dali_images, tf_images, atol=1e-6)
            np.testing.assert_array_equal(dali_masks, tf_masks)
        tf_feed.data.on_epoch_end()


@needs_dali
def test_dali_single_channel_and_augmentation_run(prepared_workdir, tmp_path):
    cfg = tiny_config(prepared_workdir, "DATA_GENERATOR_TYPE=DALI_GENERATOR", "PREPROCESS_DATA.AUGMENT=True")
    images, masks = next(iter(get_data_generator(cfg, "train").data))
    assert images.shape == (4, 64, 64, 3) and masks.shape == (4, 64, 64, 3)
    np.testing.assert_allclose(masks.numpy().sum(-1), 1.0)


@needs_dali
def test_dali_target_fn_maps_masks(prepared_workdir):
    cfg = tiny_config(prepared_workdir, "DATA_GENERATOR_TYPE=DALI_GENERATOR")
    feed = get_data_generator(cfg, "val", target_fn=lambda masks: {"d1": masks, "d2": masks * 2})
    _, targets = next(iter(feed.data))
    assert set(targets) == {"d1", "d2"}
    np.testing.assert_allclose(targets["d2"].numpy(), 2 * targets["d1"].numpy())


def test_dali_missing_gives_clear_error(prepared_workdir, monkeypatch):
    monkeypatch.setattr(dali_data_generator, "dali_import_error", lambda: "ModuleNotFoundError: No module named 'nvidia'")
    cfg = tiny_config(prepared_workdir, "DATA_GENERATOR_TYPE=DALI_GENERATOR")
    with pytest.raises(UserError, match="needs NVIDIA DALI.*TF_GENERATOR"):
        get_data_generator(cfg, "train")


class RecordingModel(keras.Model):
    """A 1x1 convolution that keeps the mask batches it trains on, by epoch (eager, to see the data)."""

    def __init__(self, classes):
        super().__init__()
        self.head = keras.layers.Conv2D(classes, 1, activation="softmax")
        self.epoch = None
        self.seen = {}

    def call(self, images):
        return self.head(images)

    def train_step(self, data):
        self.seen.setdefault(self.epoch, []).append(data[1].numpy())
        return super().train_step(data)


class CrashAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def fit_recording(cfg, backup_dir, epochs, crash_after=None):
    """Batches seen per epoch by a fit with BackupAndRestore, run on a fresh feed as a new process would."""
    feed = get_data_generator(cfg, "train")
    model = RecordingModel(cfg.OUTPUT.CLASSES)
    model(np.zeros((1, cfg.INPUT.HEIGHT, cfg.INPUT.WIDTH, cfg.INPUT.CHANNELS), np.float32))
    model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=True)
    track = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: setattr(model, "epoch", epoch))
    callbacks = [keras.callbacks.BackupAndRestore(str(backup_dir)), *feed.callbacks, track]
    if crash_after is not None:
        callbacks.append(CrashAfter(crash_after))
    model.fit(feed.data, steps_per_epoch=feed.steps, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    return model.seen


@pytest.mark.slow
@pytest.mark.parametrize("generator,workers", [
    ("TF_GENERATOR", 1), ("TF_GENERATOR", 2),
    pytest.param("DALI_GENERATOR", 1, marks=needs_dali)])
def test_resumed_run_sees_the_batches_of_an_uninterrupted_one(prepared_workdir, tmp_path, generator, workers):
    cfg = tiny_config(prepared_workdir, f"DATA_GENERATOR_TYPE={generator}", f"DATA_WORKERS={workers}")
    uninterrupted = fit_recording(cfg, tmp_path / "a", epochs=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_recording(cfg, tmp_path / "b", epochs=3, crash_after=0)
    resumed = fit_recording(cfg, tmp_path / "b", epochs=3)
    assert sorted(resumed) == [1, 2] and sorted(uninterrupted) == [0, 1, 2]
    assert not np.array_equal(uninterrupted[1], uninterrupted[2])   # epochs do shuffle differently
    for epoch in (1, 2):
        assert len(resumed[epoch]) == len(uninterrupted[epoch])
        for resumed_batch, batch in zip(resumed[epoch], uninterrupted[epoch]):
            np.testing.assert_array_equal(resumed_batch, batch)


def test_sampler_drops_or_keeps_the_partial_last_batch():
    dropped = EpochSampler(10, 4, shuffle=True, seed=7, last_batch="drop")
    assert dropped.steps_per_epoch == 2 and len(dropped.epoch_order(0)) == 8
    assert len(set(dropped.epoch_order(0).tolist())) == 8     # two full batches, nothing repeated
    kept = EpochSampler(10, 4, shuffle=False, seed=7, last_batch="partial")
    assert kept.steps_per_epoch == 3 and kept.batch(0, 2).tolist() == [8, 9]
    full, rest = kept.epoch_parts(0)
    assert full.tolist() == list(range(8)) and rest.tolist() == [8, 9]


@pytest.mark.parametrize("drop", [False, True])
def test_drop_last_batch_gives_the_recipes_steps_per_epoch(prepared_workdir, drop):
    cfg = tiny_config(prepared_workdir, "HYPER_PARAMETERS.BATCH_SIZE=10", f"HYPER_PARAMETERS.DROP_LAST_BATCH={drop}")
    slices = len(list_split_pairs(cfg, "train")[0])
    assert slices % 10   # a partial last batch exists
    feed = get_data_generator(cfg, "train")
    assert feed.steps == (slices // 10 if drop else slices // 10 + 1)
    assert all(len(feed.data.batch_indices(step)) == 10 for step in range(feed.steps))


@needs_dali
@pytest.mark.slow
def test_dali_and_tf_validate_on_the_same_slices_and_give_the_same_dice(prepared_workdir):
    """32 validation slices in batches of 5: six full batches and one of 2, each slice once, on both
    generators; one model then scores the same Dice (both kinds) and loss through either."""
    from models.model_factory import compile_model, make_targets, prepare_model

    cfg = tiny_config(prepared_workdir, "HYPER_PARAMETERS.BATCH_SIZE=5", "INPUT.HEIGHT=64", "INPUT.WIDTH=64",
                      "MODEL.FILTERS=[4,8,8]", "MODEL.SKIP_FILTERS=4")
    image_paths, _ = list_split_pairs(cfg, "val")

    def target_fn(masks):
        return make_targets(cfg.MODEL.TYPE, masks)

    feeds = {generator: get_data_generator(tiny_config(prepared_workdir, *[f"{k}={v}" for k, v in (
        ("HYPER_PARAMETERS.BATCH_SIZE", 5), ("MODEL.FILTERS", "[4,8,8]"), ("MODEL.SKIP_FILTERS", 4),
        ("DATA_GENERATOR_TYPE", generator))]), "val", target_fn=target_fn)
        for generator in ("TF_GENERATOR", "DALI_GENERATOR")}
    assert feeds["TF_GENERATOR"].steps == feeds["DALI_GENERATOR"].steps == 7 and len(image_paths) == 32
    dali_batches = iter(feeds["DALI_GENERATOR"].data)
    for _ in range(2):   # two validation passes: the DALI stream starts each one at the first slice again
        for step in range(7):
            tf_images, tf_targets = feeds["TF_GENERATOR"].data[step]
            dali_images, dali_targets = next(dali_batches)
            assert dali_images.shape[0] == tf_images.shape[0] == (2 if step == 6 else 5)
            np.testing.assert_allclose(dali_images.numpy(), tf_images, atol=1e-6)
            np.testing.assert_array_equal(dali_targets["d1"].numpy(), tf_targets["d1"])
    model = compile_model(prepare_model(cfg), cfg)
    scores = {generator: model.evaluate(feed.data, steps=feed.steps, return_dict=True, verbose=0)
              for generator, feed in feeds.items()}
    assert set(scores["TF_GENERATOR"]) >= {"loss", "dice_coef", "hard_dice_coef"}
    for name, value in scores["TF_GENERATOR"].items():
        assert scores["DALI_GENERATOR"][name] == pytest.approx(value, rel=1e-5), name
