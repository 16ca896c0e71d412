"""LiTS measures on the CT's own grid: Dice (per case and pooled), ASSD/HD95 in mm, lesion detection."""
import math

import nibabel as nib
import numpy as np
import pytest

from evaluation.metrics import case_scores, lesion_counts, overlap, surface_distances
from evaluation.summary import case_row, global_row, mean_row
from evaluation.volumes import evaluate_volumes
from utils.visualize import plot_case_scores
from volumes.nifti import find_volume_pairs
from volumes.slices import SliceSettings


def ball(shape, centre, radius_mm, spacing):
    grid = np.indices(shape).astype(float)
    distance = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing)))
    return distance <= radius_mm


@pytest.mark.parametrize("spacing", [(1.5, 1.5, 1.5), (1.0, 1.0, 2.0)])
def test_concentric_spheres_are_their_radius_difference_apart_in_mm(spacing):
    # every point of one sphere's surface is exactly 6 mm from the other's, both ways
    shape, centre = (48, 48, 32), (24, 24, 16)
    inner, outer = ball(shape, centre, 12.0, spacing), ball(shape, centre, 18.0, spacing)
    assd, hd95 = surface_distances(inner, outer, spacing)
    tolerance = max(spacing) / 2   # the spheres' surfaces are voxelised
    assert assd == pytest.approx(6.0, abs=tolerance)
    assert hd95 == pytest.approx(6.0, abs=tolerance)
    assert surface_distances(outer, inner, spacing) == pytest.approx((assd, hd95))


def test_surface_distances_equal_medpys_assd_and_hd95():
    from medpy.metric import binary

    rng = np.random.default_rng(0)
    truth = ndimage_blobs(rng)
    prediction = np.roll(truth, (2, -1, 1), axis=(0, 1, 2)) | ndimage_blobs(rng)
    spacing = (0.8, 0.8, 2.5)
    expected = (binary.assd(prediction, truth, voxelspacing=spacing), binary.hd95(prediction, truth, voxelspacing=spacing))
    assert surface_distances(truth, prediction, spacing) == pytest.approx(expected, rel=1e-12)


def ndimage_blobs(rng, shape=(40, 40, 20)):
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.random(shape), 2) > 0.52


def test_surface_distances_are_undefined_without_both_surfaces():
    empty, full = np.zeros((5, 5, 5), bool), np.ones((5, 5, 5), bool)
    assert all(math.isnan(v) for v in surface_distances(empty, full, (1, 1, 1)))
    assert surface_distances(full, full, (1, 1, 1)) == (0.0, 0.0)


def test_dice_from_overlap_counts_and_empty_regions_score_one():
    truth = np.zeros((4, 4, 4), bool)
    truth[:2] = True          # 32 voxels
    prediction = np.zeros_like(truth)
    prediction[1:3] = True    # 32 voxels, 16 shared
    assert overlap(truth, prediction).dice == pytest.approx(2 * 16 / 64)
    assert overlap(np.zeros_like(truth), np.zeros_like(truth)).dice == 1.0


def test_lesions_are_found_when_a_predicted_component_touches_them():
    truth = np.zeros((30, 30, 30), bool)
    prediction = np.zeros_like(truth)
    truth[2:5, 2:5, 2:5] = True            # found
    truth[10:13, 10:13, 10:13] = True      # found, by a prediction also touching the next one
    truth[14:17, 10:13, 10:13] = True      # found by the same component
    truth[25:28, 25:28, 25:28] = True      # missed
    prediction[3:6, 3:6, 3:6] = True
    prediction[11:16, 11:12, 11:12] = True
    prediction[20:22, 2:4, 2:4] = True     # false positive
    counts = lesion_counts(truth, prediction)
    assert counts == (4, 3, 3, 2)
    assert counts.recall == pytest.approx(3 / 4) and counts.precision == pytest.approx(2 / 3)
    assert math.isnan(lesion_counts(np.zeros_like(truth), np.zeros_like(truth)).recall)


def test_liver_is_the_whole_organ_and_tumour_is_label_2():
    truth = np.zeros((10, 10, 10), np.uint8)
    truth[2:8, 2:8, 2:8] = 1
    truth[4:6, 4:6, 4:6] = 2
    prediction = truth.copy()
    prediction[prediction == 2] = 1        # the tumour called liver: the organ is still perfect
    scores = case_scores(truth, prediction, (1, 1, 1), classes=3)
    assert scores["liver"]["overlap"].dice == 1.0
    assert scores["tumour"]["overlap"].dice == 0.0
    assert scores["lesions"] == (1, 0, 0, 0)
    assert set(case_scores(np.minimum(truth, 1), prediction, (1, 1, 1), classes=2)) == {"liver"}


def test_mean_row_skips_undefined_values_and_global_row_pools_voxels():
    truth_a = np.zeros((10, 10, 10), np.uint8)
    truth_a[:5] = 1                                   # 500 liver voxels, predicted perfectly, no tumour
    truth_b = np.zeros((10, 10, 10), np.uint8)
    truth_b[:1] = 1                                   # 100 liver voxels, none predicted
    truth_b[0, 0, 0] = 2
    cases = [(truth_a, truth_a.copy()), (truth_b, np.zeros_like(truth_b))]
    rows, overlaps, lesions = [], [], []
    for index, (truth, prediction) in enumerate(cases):
        scores = case_scores(truth, prediction, (1, 1, 1), 3)
        rows.append(case_row(index, 10, scores, {r: scores[r]["overlap"] for r in ("liver", "tumour")}))
        overlaps.append({r: scores[r]["overlap"] for r in ("liver", "tumour")})
        lesions.append(scores["lesions"])
    mean, pooled = mean_row(rows), global_row(rows, overlaps, lesions)
    assert mean["dice_liver"] == pytest.approx(0.5)                        # (1 + 0) / 2
    assert pooled["dice_liver"] == pytest.approx(2 * 500 / (600 + 500))    # voxels pooled
    assert mean["assd_liver_mm"] == 0.0                                    # case b has no value: left out
    assert mean["dice_tumour"] == pytest.approx(0.5)                       # no tumour in a, none found in b
    assert pooled["dice_tumour"] == 0.0 and pooled["lesion_recall"] == 0.0
    assert mean["slices"] == pooled["slices"] == 20


def test_evaluate_volumes_scores_on_the_source_grid_and_skips_bad_volumes(tmp_path, raw_lits, capsys):
    """A 'network' predicting background everywhere, on 64x64 phantoms read at 32x32."""
    def all_background(images):
        probabilities = np.zeros((*images.shape[:3], 3), np.float32)
        probabilities[..., 0] = 1.0
        return probabilities

    pairs = find_volume_pairs(str(raw_lits / "val"))
    broken = tmp_path / "volume-9.nii"
    broken.write_bytes(b"not a nifti file")
    pairs.append((9, str(broken), pairs[0][2]))
    result = evaluate_volumes(pairs, all_background, SliceSettings(-200, 250, (32, 32), 3), classes=3,
                              batch_size=5, nifti_dir=str(tmp_path / "out"))
    assert [row["volume"] for row in result.cases] == [3, 4]
    assert result.skipped and "volume-9.nii" in result.skipped[0]
    assert "warning: skipped: volume-9.nii cannot be read" in capsys.readouterr().err
    for row in result.cases:
        assert row["dice_liver"] == 0.0 and row["slices"] == 16
        assert math.isnan(row["hd95_liver_mm"]) and row["lesion_recall"] == 0.0
    written = nib.load(result.written[0])
    assert written.shape == (64, 64, 16) and not np.asanyarray(written.dataobj).any()


def test_the_scores_figure_draws_each_cases_dice_and_hd95_per_region(tmp_path):
    rows = [{"volume": 3, "dice_liver": 0.95, "dice_tumour": 0.6, "hd95_liver_mm": 4.0, "hd95_tumour_mm": 9.0},
            {"volume": 7, "dice_liver": 0.90, "dice_tumour": 1.0, "hd95_liver_mm": 6.0, "hd95_tumour_mm": math.nan}]
    figure = plot_case_scores(rows, str(tmp_path / "evaluation" / "summary.png"))
    dice, hd95 = figure.axes
    heights = [round(bar.get_height(), 6) for bar in dice.patches]
    assert heights == [0.95, 0.90, 0.6, 1.0]            # liver bars, then tumour bars, in case order
    assert [round(bar.get_height(), 6) for bar in hd95.patches] == [4.0, 6.0, 9.0, 0.0]   # undefined: no bar
    assert [line.get_ydata()[0] for line in hd95.lines] == pytest.approx([5.0, 9.0])      # means leave NaN out
    assert [label.get_text() for label in dice.get_xticklabels()] == ["3", "7"]
    assert [text.get_text() for text in hd95.get_legend().get_texts()] == ["liver (mean 5)", "tumour (mean 9)"]
    assert (tmp_path / "evaluation" / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
