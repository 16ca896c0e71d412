"""A CT through the network: the pipelined path gives the labels of the slice-by-slice one, bit for bit;
PREDICTION.ROI predicts only the slices around the organ and keeps the Dice of every slice."""
import numpy as np
import pytest
from scipy import ndimage

from data_sets.synthetic.ct import make_synthetic_ct, write_volume
from inference.roi import RoiSettings, body_slices, predict_region, roi_settings
from inference.volume import PHASES, predict_volume
from tests.helpers import tiny_config
from utils.errors import UserError
from volumes.geometry import labels_from_probabilities, labels_on_grid
from volumes.slices import SliceSettings, input_slice, slice_settings

SETTINGS = SliceSettings(-200, 250, (64, 64), 3)


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def blob_probabilities(rng, batch, size, classes, blobs):
    """Softmax maps of background with `blobs` noisy discs of other classes per slice."""
    logits = np.zeros((batch, size, size, classes), np.float32)
    logits[..., 0] = 5
    rows, columns = np.ogrid[:size, :size]
    for b in range(batch):
        for _ in range(blobs):
            y, x, r = rng.integers(0, size, 3)
            logits[b][(rows - y) ** 2 + (columns - x) ** 2 < max(2, r // 4) ** 2, rng.integers(1, classes)] += 8
    return softmax(logits + rng.normal(0, 2, logits.shape).astype(np.float32))


@pytest.mark.parametrize("source,target,classes", [(320, 512, 3), (320, 512, 2), (64, 80, 3), (64, 64, 3),
                                                   (320, 333, 3), (64, 32, 3), (20, 37, 5)])
def test_labels_on_grid_equal_resizing_every_slice_whole(source, target, classes):
    rng = np.random.default_rng(source + target + classes)
    for blobs in (0, 1, 4):
        probabilities = blob_probabilities(rng, 3, source, classes, blobs)
        expected = np.stack([labels_from_probabilities(p, (target, target)) for p in probabilities])
        np.testing.assert_array_equal(labels_on_grid(probabilities, (target, target)), expected)
        assert blobs == 0 or expected.any()


def intensity_network(images):
    """A stand-in for a trained model, smooth in the image: 'liver' where the centre channel is liver-bright
    (60-120 HU in the -200..250 window) away from the spine's bright bone; three classes, as LiTS has."""
    centre = images[..., images.shape[-1] // 2]
    bone_near = ndimage.maximum_filter(centre, size=(1, 7, 7)) >= 0.8
    liver = np.where(bone_near, -10, 60 * (centre - 0.55))
    return softmax(np.stack([np.zeros_like(centre), liver, 1.1 * liver - 2], axis=-1))


def slice_by_slice(hu, settings, network):
    """What predict_volume did before the pipeline: each slice alone, its probabilities resized whole."""
    labels = np.zeros(hu.shape, np.uint8)
    for index in range(hu.shape[2]):
        image = input_slice(hu, index, settings)[np.newaxis].astype(np.float32) / 255.0
        labels[:, :, index] = labels_from_probabilities(network(image)[0], hu.shape[:2])
    return labels


@pytest.fixture(scope="module")
def tall_ct():
    """80x80, 40 slices, the liver phantom in the middle 16."""
    return make_synthetic_ct(80, 40, 16, seed=3)


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_the_pipeline_gives_the_labels_of_the_slice_by_slice_path(tall_ct, batch_size):
    hu, truth = tall_ct
    timings = {}
    prediction = predict_volume(hu, intensity_network, SETTINGS, batch_size, timings=timings)
    np.testing.assert_array_equal(prediction.labels, slice_by_slice(hu, SETTINGS, intensity_network))
    assert prediction.predicted == 40 and prediction.model_labels.shape == (64, 64, 40)
    liver = np.isin(truth, (1, 2))
    assert 2 * (liver & (prediction.labels > 0)).sum() / (liver.sum() + (prediction.labels > 0).sum()) > 0.95
    assert set(timings) == set(PHASES) - {"read", "postprocess", "write"} and all(t > 0 for t in timings.values())


def test_roi_predicts_the_slices_around_the_organ_and_the_same_labels(tall_ct):
    hu, truth = tall_ct
    calls = []

    def counted(images):
        calls.append(len(images))
        return intensity_network(images)

    full = predict_volume(hu, intensity_network, SETTINGS, 4)
    roi = predict_volume(hu, counted, SETTINGS, 1, roi=RoiSettings(step=4, margin=2))
    assert roi.predicted == sum(calls) < 30                        # 10 sampled + the organ's ~16 and margins
    np.testing.assert_array_equal(roi.labels, full.labels)        # no foreground outside the region here
    organ = np.flatnonzero(full.labels.any(axis=(0, 1)))
    assert organ[0] > 2 and organ[-1] < 37                         # there were slices to skip


def test_the_region_grows_until_margin_slices_past_the_foreground_are_empty():
    foreground = {*range(13, 21), *range(30, 37)}
    asked = []

    def predict(indices):
        asked.append(list(indices))
        return {i for i in indices if i in foreground}

    done = predict_region(50, np.arange(50), RoiSettings(step=16, margin=2), predict)
    assert asked[:2] == [[0, 16, 32, 48], [*range(17, 32)]]        # the cheap pass, then between its finds
    assert sorted(done) == [0, *range(11, 39), 48]                 # grown to 2 empty slices past 13 and 36
    assert sorted(sum(asked, [])) == sorted(done)                  # each slice once


def test_no_foreground_in_the_samples_predicts_every_slice():
    done = predict_region(20, np.arange(3, 17), RoiSettings(step=4, margin=1), lambda indices: set())
    assert sorted(done) == list(range(20))


def test_body_slices_are_read_from_hu():
    hu = np.full((16, 16, 6), -1000.0, np.float32)
    hu[4:12, 4:12, 2:5] = 40.0
    assert body_slices(hu).tolist() == [2, 3, 4]


def test_roi_settings_from_the_config(tmp_path):
    assert roi_settings(tiny_config(tmp_path)) is None
    assert roi_settings(tiny_config(tmp_path, "PREDICTION.ROI=True")) == RoiSettings(10, 4)
    with pytest.raises(UserError, match="^PREDICTION.ROI_STEP must be a positive integer, got 0$"):
        roi_settings(tiny_config(tmp_path, "PREDICTION.ROI=True", "PREDICTION.ROI_STEP=0"))


@pytest.mark.slow
def test_roi_keeps_the_dice_of_every_slice_on_held_out_cts(trained, tmp_path):
    """Held-out chest-to-pelvis-like CTs (the liver phantom in the middle 16 of 48 slices), the trained tiny
    model: Dice within 0.01 (liver) and 0.02 (tumour) of predicting every slice, on far fewer slices."""
    from evaluation.volumes import evaluate_volumes
    from inference.predict_fn import make_predict_fn
    from run_dirs.loading import load_trained_model
    from volumes.nifti import find_volume_pairs
    from volumes.slices import inference_slice_settings

    cfg, _ = trained
    for volume_id in (7, 8):
        write_volume(str(tmp_path), volume_id, *make_synthetic_ct(64, 48, 16, seed=[11, volume_id]))
    pairs = find_volume_pairs(str(tmp_path))
    network = make_predict_fn(load_trained_model(cfg))
    seen = []

    def counted(images):
        seen.append(len(images))
        return network(images)

    scores = {}
    for name, roi in (("full", None), ("roi", roi_settings(tiny_config(tmp_path, "PREDICTION.ROI=True",
                                                                     "PREDICTION.ROI_STEP=4")))):
        seen.clear()
        pooled = evaluate_volumes(pairs, counted, inference_slice_settings(cfg), cfg.OUTPUT.CLASSES, 1,
                                  roi=roi).summary[1]
        scores[name] = (pooled["dice_liver"], pooled["dice_tumour"], sum(seen))
    assert scores["full"][0] > 0.8 and scores["full"][2] == 96
    assert abs(scores["roi"][0] - scores["full"][0]) <= 0.01
    assert abs(scores["roi"][1] - scores["full"][1]) <= 0.02
    assert scores["roi"][2] < 0.75 * 96


def test_inference_batch_size_is_checked(tmp_path):
    from deploy.backends import inference_batch_size

    assert inference_batch_size(tiny_config(tmp_path)) == 4
    with pytest.raises(UserError, match="^INFERENCE.BATCH_SIZE must be a positive integer, got 0$"):
        inference_batch_size(tiny_config(tmp_path, "INFERENCE.BATCH_SIZE=0"))


def test_a_few_stray_pixels_do_not_make_a_slice_hold_the_organ():
    from inference.roi import min_foreground_pixels

    assert min_foreground_pixels(320, 320) == 51 and min_foreground_pixels(64, 64) == 2
    assert min_foreground_pixels(16, 16) == 1


def test_the_network_sees_what_the_settings_say_normalised_or_not(tmp_path):
    """PREPROCESS_DATA.NORMALIZE_IMAGE reaches the network through the settings alone: the slices of a CT
    go in divided by 255 (largest value 1.0) or as the uint8 values they were windowed to (255.0)."""
    hu = np.full((32, 32, 4), 1000.0, np.float32)   # above the HU window: every pixel windowed to 255
    largest = {}
    for normalize in (True, False):
        settings = SliceSettings(-200, 250, (32, 32), 1)._replace(normalize=normalize)
        assert settings == slice_settings(tiny_config(tmp_path, "INPUT.CHANNELS=1", "INPUT.HEIGHT=32",
                                                      "INPUT.WIDTH=32", "DATA_PREPARATION.HU_WINDOW.MIN=-200",
                                                      "DATA_PREPARATION.HU_WINDOW.MAX=250",
                                                      f"PREPROCESS_DATA.NORMALIZE_IMAGE={normalize}"))

        def network(images):
            largest[normalize] = float(images.max())
            return np.tile(np.array([1.0, 0.0], np.float32), (*images.shape[:3], 1))

        predict_volume(hu, network, settings, 4)
    assert largest == {True: 1.0, False: 255.0}
