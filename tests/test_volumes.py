"""CT volumes: one resampling convention, RAS+ orientation, and clear lines for bad files."""
import gzip

import cv2
import nibabel as nib
import numpy as np
import pytest

from data_sets.synthetic.ct import make_synthetic_volume
from tests.helpers import tiny_config
from utils.errors import UserError
from volumes.geometry import labels_from_probabilities, one_hot, resize_image, resize_labels
from volumes.nifti import (check_ct_intensities, check_labels, intensity_problem, load_segmentation, load_volume,
                           save_labels)
from volumes.postprocess import postprocess_labels
from volumes.slices import inference_slice_settings, slice_settings

DEMO_SOURCE, DEMO_MODEL = (128, 128), (96, 96)   # the README demo: 128x128 phantoms, 96x96 network


def dice(truth, prediction):
    return 2.0 * np.logical_and(truth, prediction).sum() / (truth.sum() + prediction.sum())


def demo_phantoms(count=4):
    return [make_synthetic_volume(128, 32, seed=[0, volume_id])[1] for volume_id in range(count)]


def slice_by_slice(function, volume):
    return np.stack([function(volume[:, :, k]) for k in range(volume.shape[2])], axis=-1)


def test_a_mask_taken_to_the_model_grid_and_back_keeps_its_shape():
    for labels in demo_phantoms():
        down = slice_by_slice(lambda m: resize_labels(m, DEMO_MODEL, 3), labels)
        back = slice_by_slice(lambda m: labels_from_probabilities(one_hot(m, 3), DEMO_SOURCE), down)
        nearest = slice_by_slice(lambda m: cv2.resize(cv2.resize(m, DEMO_MODEL[::-1], interpolation=cv2.INTER_NEAREST),
                                                      DEMO_SOURCE[::-1], interpolation=cv2.INTER_NEAREST), labels)
        assert dice(labels > 0, back > 0) >= 0.98
        assert dice(labels == 2, back == 2) >= 0.93          # 96 px hold less tumour detail than 128
        assert dice(labels > 0, back > 0) > dice(labels > 0, nearest > 0) + 0.01   # the old half-pixel shift


def test_a_perfect_prediction_written_back_scores_at_least_099_per_class():
    for labels in demo_phantoms():
        # what a perfect network outputs on its grid: the share of each pixel covered by each class
        perfect = [resize_image(one_hot(labels[:, :, k], 3), DEMO_MODEL) for k in range(labels.shape[2])]
        written = np.stack([labels_from_probabilities(p, DEMO_SOURCE) for p in perfect], axis=-1)
        for label in (1, 2):
            assert dice(labels == label, written == label) >= 0.99, label


def test_labels_and_images_share_pixel_centres():
    # a bright square and its mask: after resizing, the image's bright pixels are the mask's pixels
    image = np.zeros((128, 128), np.float32)
    image[40:88, 30:70] = 1.0
    small_image, small_mask = resize_image(image, DEMO_MODEL), resize_labels(image.astype(np.uint8), DEMO_MODEL, 2)
    assert ((small_image > 0.5) == (small_mask == 1))[small_image != 0.5].all()
    assert np.isclose(small_image, 0.5).any()   # the square's edges do fall between pixels


def write_nifti(path, data, affine, dtype=None, slope_inter=None):
    image = nib.Nifti1Image(data, affine)
    if dtype is not None:
        image.set_data_dtype(dtype)
    if slope_inter is not None:
        image.header.set_slope_inter(*slope_inter)
    nib.save(image, str(path))
    return str(path)


def flipped_copy(data, affine, axes=(0, 1)):
    """The same scan stored with the given axes reversed: data and affine flipped together."""
    flipped, new_affine = data, affine.copy()
    for axis in axes:
        flipped = np.flip(flipped, axis)
        step = np.eye(4)
        step[axis, axis], step[axis, 3] = -1, data.shape[axis] - 1
        new_affine = new_affine @ step
    return np.ascontiguousarray(flipped), new_affine


def test_any_orientation_reads_as_the_same_ras_voxels_and_writes_back_in_its_own(tmp_path):
    hu, labels = make_synthetic_volume(32, 12, seed=3)
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    plain = load_volume(write_nifti(tmp_path / "volume-1.nii", hu, affine))
    flipped_hu, flipped_affine = flipped_copy(hu, affine, axes=(0, 2))
    swapped_hu, swapped_affine = np.ascontiguousarray(flipped_hu.transpose(1, 0, 2)), flipped_affine[:, [1, 0, 2, 3]]
    for path, data, aff in ((tmp_path / "volume-2.nii.gz", flipped_hu, flipped_affine),
                            (tmp_path / "volume-3.nii", swapped_hu, swapped_affine)):
        other = load_volume(write_nifti(path, data, aff))
        np.testing.assert_array_equal(other.data, plain.data)
        assert other.spacing == pytest.approx(plain.spacing)
        out = save_labels(labels, other, str(tmp_path / f"out-{path.name}"))
        written = nib.load(out)
        np.testing.assert_allclose(written.affine, aff)
        # voxel (i, j, k) of the written file holds the label at the same world point as the source file
        expected, _ = (flipped_copy(labels, affine, axes=(0, 2)))
        if path.name.startswith("volume-3"):
            expected = expected.transpose(1, 0, 2)
        np.testing.assert_array_equal(np.asanyarray(written.dataobj), expected)


def test_int16_ct_with_scaling_reads_as_hu_and_labels_write_back_unscaled(tmp_path):
    hu = np.arange(-1024, -1024 + 8 * 8 * 8, dtype=np.int16).reshape(8, 8, 8)
    path = write_nifti(tmp_path / "volume-5.nii.gz", (hu + 1024).astype(np.int16), np.eye(4), np.int16, (1.0, -1024.0))
    volume = load_volume(path)
    np.testing.assert_allclose(volume.data, hu)
    labels = (np.arange(512).reshape(8, 8, 8) % 3).astype(np.uint8)
    written = nib.load(save_labels(labels, volume, str(tmp_path / "segmentation-5.nii.gz")))
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), labels)


def test_trailing_singleton_dimension_is_dropped(tmp_path):
    path = write_nifti(tmp_path / "v.nii", np.ones((6, 5, 4, 1), np.float32) * np.arange(4)[:, None], np.eye(4))
    assert load_volume(path).data.shape == (6, 5, 4)


def test_a_4d_volume_is_refused_naming_the_file(tmp_path):
    path = write_nifti(tmp_path / "volume-4.nii", np.zeros((6, 5, 4, 2), np.float32), np.eye(4))
    with pytest.raises(UserError, match=r"volume-4.nii has shape \(6, 5, 4, 2\); a CT volume must be 3D"):
        load_volume(path)


def test_a_truncated_file_is_refused_naming_the_file(tmp_path):
    path = write_nifti(tmp_path / "volume-6.nii.gz", np.random.default_rng(0).random((20, 20, 20), dtype=np.float32),
                       np.eye(4))
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) // 2])
    with pytest.raises(UserError, match=r"^volume-6.nii.gz cannot be read"):
        load_volume(path)


def test_missing_spacing_warns_once_and_assumes_1mm(tmp_path, capsys):
    image = nib.Nifti1Image(np.arange(60, dtype=np.float32).reshape(5, 4, 3), None)
    image.header["pixdim"][1:4] = 0
    path = str(tmp_path / "volume-7.nii.gz")
    with gzip.open(path, "wb") as handle:   # nibabel itself would repair the header on save
        handle.write(image.header.binaryblock + b"\0" * 4 + image.get_fdata().astype(np.float32).tobytes("F"))
    volume = load_volume(path)
    assert volume.spacing == (1.0, 1.0, 1.0)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: volume-7.nii.gz has no voxel spacing")


def test_spacing_in_metres_or_microns_is_read_in_mm(tmp_path):
    spacings = {}
    for unit in ("mm", "meter", "micron"):
        image = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(5, 4, 3), np.diag([0.7, 0.7, 2.5, 1]))
        image.header.set_xyzt_units(unit)
        nib.save(image, tmp_path / f"{unit}.nii")
        spacings[unit] = load_volume(str(tmp_path / f"{unit}.nii")).spacing
    assert spacings["mm"] == pytest.approx((0.7, 0.7, 2.5))
    assert spacings["meter"] == pytest.approx((700, 700, 2500))
    assert spacings["micron"] == pytest.approx((0.0007, 0.0007, 0.0025))


def test_a_ct_without_air_is_flagged_as_not_in_hounsfield_units(tmp_path, capsys):
    hu = make_synthetic_volume(32, 8, seed=0)[0].astype(np.int16)
    for name, data in (("volume-1.nii", hu), ("volume-2.nii", (hu + 1024).astype(np.uint16))):
        check_ct_intensities(load_volume(write_nifti(tmp_path / name, data, np.eye(4))))
    assert capsys.readouterr().err.splitlines() == [
        "warning: volume-2.nii has no value below -500 (lowest 0), but a CT in Hounsfield units shows air near "
        "-1000: if its header lacks the rescale slope/intercept, the HU window sees the wrong tissue"]


@pytest.mark.parametrize("labels,message", [
    (np.array([0, 0.5, 1.0]), "non-integer labels \\(e.g. 0.5\\)"),
    (np.array([-1, 0, 1, 3]), "labels -1, 3;"),
    (np.array([0, np.nan]), "NaN or infinite labels"),
])
def test_bad_label_values_are_named_with_their_real_values(labels, message):
    with pytest.raises(UserError, match=f"^segmentation-9.nii holds {message}"):
        check_labels(labels, "segmentation-9.nii")


def test_float_labels_that_are_integers_are_accepted(tmp_path):
    path = write_nifti(tmp_path / "segmentation-1.nii", np.array([[[0.0, 1.0], [2.0, 1.0]]], np.float32), np.eye(4))
    assert load_segmentation(path).data.dtype == np.uint8


def test_nan_and_constant_volumes_are_flagged():
    assert intensity_problem(np.array([[[1.0, np.nan]]])) == "holds NaN or infinite values"
    assert intensity_problem(np.full((2, 2, 2), -1024, np.int16)) == "is constant (-1024 everywhere)"
    assert intensity_problem(np.arange(8.0).reshape(2, 2, 2)) is None
    assert intensity_problem(np.array([[[0, 1], [2, 0]]], np.uint8)) == (
        "holds only the values 0..2 of a label map: a segmentation, not a CT")


def test_postprocess_keeps_the_largest_organ_and_the_tumours_inside_it():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[2:12, 2:12, 2:12] = 1
    labels[5:8, 5:8, 5:8] = 2            # tumour inside the liver
    labels[15:18, 15:18, 15:18] = 2      # "tumour" far away: a false positive
    labels[15:17, 2:4, 2:4] = 1          # a second, smaller "liver"
    cleaned = postprocess_labels(labels)
    expected = labels.copy()
    expected[15:18, 15:18, 15:18] = 0
    expected[15:17, 2:4, 2:4] = 0
    np.testing.assert_array_equal(cleaned, expected)


@pytest.mark.parametrize("low,high", [(200, 200), (300, -100)])
def test_an_empty_hu_window_is_refused_naming_the_key(tmp_path, low, high):
    cfg = tiny_config(tmp_path, f"DATA_PREPARATION.HU_WINDOW.MIN={low}", f"DATA_PREPARATION.HU_WINDOW.MAX={high}")
    with pytest.raises(UserError, match=rf"^DATA_PREPARATION.HU_WINDOW.MIN must be < MAX, got {low}\.\.{high}$"):
        slice_settings(cfg)


def test_a_trained_network_gets_slices_at_its_input_size_even_when_slices_were_prepared_unresized(tmp_path):
    from inference.volume import predict_volume

    cfg = tiny_config(tmp_path, "DATA_PREPARATION.RESIZE=False")
    assert slice_settings(cfg).size is None                     # preprocessing keeps the CT's size
    settings = inference_slice_settings(cfg)
    assert settings.size == (64, 64)

    def network(images):                                        # the trained model's fixed input shape
        assert images.shape[1:] == (64, 64, 3)
        return np.stack([np.zeros((64, 64, 3), np.float32) + [0.2, 0.7, 0.1]] * len(images))

    hu, _ = make_synthetic_volume(32, 8, seed=1)
    prediction = predict_volume(hu[:, :20], network, settings, batch_size=4)   # a 32x20 CT
    assert prediction.labels.shape == (32, 20, 8) and np.all(prediction.labels == 1)


def test_two_cts_that_would_be_written_to_one_mask_file_are_refused():
    from inference.volume import check_output_names

    check_output_names(["/a/volume-1.nii", "/a/volume-2.nii.gz", "/a/patient.nii"])
    for paths in (["/a/volume-3.nii", "/a/volume-3.nii.gz"], ["/a/volume-1.nii", "/b/volume-1.nii"]):
        with pytest.raises(UserError, match=f"^{paths[0]} and {paths[1]} would both be written as "
                                            f"segmentation-[13].nii.gz: segment them in two runs"):
            check_output_names(paths)


def test_predicted_volumes_are_named_after_their_ct_and_find_its_reference(tmp_path):
    from data_sets.lits import output_name
    from inference.volume import reference_beside

    assert output_name("/ct/volume-007.nii") == "segmentation-007.nii.gz"   # digits kept as written
    assert output_name("/ct/patient_a.nii.gz") == "patient_a_segmentation.nii.gz"
    assert output_name("/ct/test-volume-12.nii") == "test-segmentation-12.nii"   # what LiTS's server reads
    (tmp_path / "segmentation-007.nii").write_bytes(b"")
    assert reference_beside(str(tmp_path / "volume-007.nii.gz")) == str(tmp_path / "segmentation-007.nii")
    assert reference_beside(str(tmp_path / "volume-8.nii.gz")) is None
    assert reference_beside(str(tmp_path / "patient_a.nii.gz")) is None


def test_a_segmentation_stored_in_another_orientation_is_read_in_world_space_and_flagged(tmp_path, capsys):
    hu, labels = make_synthetic_volume(32, 8, seed=[0, 3])
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    volume = load_volume(write_nifti(tmp_path / "volume-1.nii", hu.astype(np.int16), affine))
    stored, stored_affine = flipped_copy(labels.astype(np.uint8), affine)
    segmentation = load_segmentation(write_nifti(tmp_path / "segmentation-1.nii", stored, stored_affine), volume)
    np.testing.assert_array_equal(segmentation.data, labels)   # back over the CT through its own affine
    assert capsys.readouterr().err.splitlines() == [
        "warning: segmentation-1.nii is stored in orientation LPS, volume-1.nii in RAS: each is read by its own "
        "affine, so the labels lie over the CT only if that change is real; check them in the figures of "
        "predict.py or verify_data.py"]
    load_segmentation(write_nifti(tmp_path / "segmentation-2.nii", labels.astype(np.uint8), affine), volume)
    assert capsys.readouterr().err == ""   # the usual case: same orientation, no word


@pytest.mark.parametrize("voxels", [np.zeros((8, 8, 4), np.complex64),
                                    np.zeros((8, 8, 4), [("R", "u1"), ("G", "u1"), ("B", "u1")])])
def test_a_volume_of_complex_or_rgb_voxels_is_refused_naming_the_file(tmp_path, voxels):
    path = write_nifti(tmp_path / "volume-3.nii", voxels, np.eye(4))
    with pytest.raises(UserError, match=r"^volume-3.nii holds .* voxels; a CT volume holds one real number per voxel$"):
        load_volume(path)


def test_a_directory_of_cts_gives_its_cts_not_the_masks_beside_them(tmp_path):
    from volumes.nifti import find_nifti_files

    for name in ("volume-3.nii.gz", "segmentation-3.nii.gz", "patient_a.nii", "patient_a_segmentation.nii.gz",
                 "test-volume-5.nii", "test-segmentation-5.nii", ".hidden.nii", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert find_nifti_files(str(tmp_path)) == [str(tmp_path / n) for n in ("patient_a.nii", "test-volume-5.nii",
                                                                            "volume-3.nii.gz")]
