"""LiTS measures on the CT's own grid, each against an independent computation (MedPy, a k-d tree, by hand):
Dice per case and pooled, VOE, RVD, ASSD, MSD, RMSD, HD95 in mm, misses, LiTS's lesion detection."""
import math

import nibabel as nib
import numpy as np
import pytest

from evaluation.metrics import (LITS_LESION_REGION, LITS_REGIONS, active_regions, case_scores, image_diagonal,
                                lesion_detection, overlap, surface_distances)
from evaluation.summary import case_row, global_row, headline_columns, mean_row, missed_line
from app.config import validate_config
from data_sets.kinds import class_setup
from evaluation.volumes import evaluate_volumes, scoring_settings
from data_sets.synthetic.ct import SPACING_MM
from tests.helpers import kdtree_distances, tiny_config
from utils.errors import UserError
from figures.plots import plot_case_scores
from volumes.nifti import find_volume_pairs
from volumes.slices import SliceSettings


def ball(shape, centre, radius_mm, spacing):
    grid = np.indices(shape).astype(float)
    distance = np.sqrt(sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, spacing)))
    return distance <= radius_mm


def ndimage_blobs(rng, shape=(40, 40, 20)):
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.random(shape), 2) > 0.52


def blob_pair(seed=0, shape=(40, 40, 20)):
    """Two overlapping irregular masks, several components each, one touching the volume's edge."""
    rng = np.random.default_rng(seed)
    truth = ndimage_blobs(rng, shape)
    prediction = np.roll(truth, (2, -1, 1), axis=(0, 1, 2)) | ndimage_blobs(rng, shape)
    truth[:3, :3, :3] = True
    return truth, prediction


@pytest.mark.parametrize("spacing", [(1.5, 1.5, 1.5), (1.0, 1.0, 2.0)])
def test_concentric_spheres_are_their_radius_difference_apart_in_mm(spacing):
    # every point of one sphere's surface is exactly 6 mm from the other's, both ways
    shape, centre = (48, 48, 32), (24, 24, 16)
    inner, outer = ball(shape, centre, 12.0, spacing), ball(shape, centre, 18.0, spacing)
    distances = surface_distances(inner, outer, spacing)
    tolerance = max(spacing) / 2   # the spheres' surfaces are voxelised
    for value in distances:
        assert value == pytest.approx(6.0, abs=tolerance)
    assert surface_distances(outer, inner, spacing) == pytest.approx(distances)


@pytest.mark.parametrize("seed,spacing", [(0, (0.8, 0.8, 2.5)), (1, (1.0, 1.0, 1.0)), (2, (0.7, 1.3, 5.0))])
def test_every_surface_distance_matches_medpy_and_a_kdtree_computation(seed, spacing):
    from medpy.metric import binary

    truth, prediction = blob_pair(seed)
    ours = surface_distances(truth, prediction, spacing)
    # MedPy with LiTS's 18-neighbourhood surfaces, on the whole (uncropped) volume
    assert ours.assd == pytest.approx(binary.assd(prediction, truth, spacing, connectivity=2), rel=1e-12)
    assert ours.msd == pytest.approx(binary.hd(prediction, truth, spacing, connectivity=2), rel=1e-12)
    pooled = surface_distances(truth, prediction, spacing, hd95="pooled")
    assert pooled.hd95 == pytest.approx(binary.hd95(prediction, truth, spacing, connectivity=2), rel=1e-12)
    # RMSD and the max-of-directed HD95 have no MedPy function: k-d tree nearest neighbours instead
    from_prediction, from_truth = kdtree_distances(truth, prediction, spacing)
    both = np.concatenate((from_prediction, from_truth))
    assert ours.rmsd == pytest.approx(np.sqrt(np.mean(both ** 2)), rel=1e-9)
    assert ours.hd95 == pytest.approx(max(np.percentile(from_prediction, 95), np.percentile(from_truth, 95)), rel=1e-9)
    assert ours.assd == pytest.approx(both.mean(), rel=1e-9) and ours.msd == pytest.approx(both.max(), rel=1e-9)


def test_max_of_directed_hd95_reads_a_far_false_positive_that_pooled_hides():
    spacing = (1.0, 1.0, 1.0)
    truth = ball((60, 40, 40), (20, 20, 20), 12.0, spacing)
    prediction = truth.copy()
    prediction[50:52, 15:25, 15:25] = True      # a far-off false positive, 18 mm from the ball
    pooled = surface_distances(truth, prediction, spacing, hd95="pooled").hd95
    directed = surface_distances(truth, prediction, spacing, hd95="max_of_directed").hd95
    # its 200 surface voxels are 9 % of the prediction's surface but under 5 % of both surfaces together
    assert pooled == 0.0 and directed == pytest.approx(18.0, abs=1.0)
    with pytest.raises(KeyError):
        surface_distances(truth, prediction, spacing, hd95="average")


def test_overlap_measures_match_medpy_on_anisotropic_blobs():
    from medpy.metric import binary

    truth, prediction = blob_pair(3)
    scores = overlap(truth, prediction)
    assert scores.dice == pytest.approx(binary.dc(prediction, truth), rel=1e-12)
    assert scores.voe == pytest.approx(1 - binary.jc(prediction, truth), rel=1e-12)
    assert scores.rvd == pytest.approx(binary.ravd(prediction, truth), rel=1e-12)   # (|P| - |T|) / |T|
    assert scores.rvd > 0 and not scores.missed


def test_empty_masks_get_defined_scores_and_a_miss_is_the_image_diagonal():
    shape, spacing = (10, 20, 5), (0.5, 0.5, 3.0)
    diagonal = np.sqrt((10 * 0.5) ** 2 + (20 * 0.5) ** 2 + (5 * 3.0) ** 2)
    empty, some = np.zeros(shape, bool), np.zeros(shape, bool)
    some[2:5, 2:5, 1:3] = True
    assert image_diagonal(shape, spacing) == pytest.approx(diagonal)
    assert surface_distances(empty, empty, spacing) == (0.0, 0.0, 0.0, 0.0)
    assert surface_distances(empty, some, spacing) == pytest.approx([diagonal] * 4)
    assert surface_distances(some, empty, spacing) == pytest.approx([diagonal] * 4)
    both_empty, missed, false_positive = overlap(empty, empty), overlap(some, empty), overlap(empty, some)
    assert (both_empty.dice, both_empty.voe, both_empty.rvd, both_empty.missed) == (1.0, 0.0, 0.0, False)
    assert (missed.dice, missed.voe, missed.rvd, missed.missed) == (0.0, 1.0, -1.0, True)
    assert (false_positive.dice, false_positive.voe, false_positive.missed) == (0.0, 1.0, True)
    assert false_positive.rvd == math.inf


def test_missing_a_structure_scores_worse_than_the_worst_prediction_that_has_a_surface():
    shape, spacing = (30, 30, 12), (0.8, 0.8, 2.5)
    truth = np.zeros(shape, bool)
    truth[:4, :4, :2] = True                       # in one corner
    worst = np.zeros(shape, bool)
    worst[-1, -1, -1] = True                       # one voxel in the opposite corner
    missed, far = surface_distances(truth, np.zeros(shape, bool), spacing), surface_distances(truth, worst, spacing)
    assert all(m > f for m, f in zip(missed, far))


def test_dice_from_overlap_counts_and_empty_regions_score_one():
    truth = np.zeros((4, 4, 4), bool)
    truth[:2] = True          # 32 voxels
    prediction = np.zeros_like(truth)
    prediction[1:3] = True    # 32 voxels, 16 shared
    assert overlap(truth, prediction).dice == pytest.approx(2 * 16 / 64)
    assert overlap(truth, prediction).voe == pytest.approx(1 - 16 / 48)
    assert overlap(np.zeros_like(truth), np.zeros_like(truth)).dice == 1.0


def cube(mask, corner, size):
    mask[tuple(slice(c, c + s) for c, s in zip(corner, size))] = True


def test_lesions_one_to_one_are_detected_above_the_overlap_threshold_as_medpy_jaccard_says():
    from medpy.metric import binary

    truth, prediction = np.zeros((40, 40, 40), bool), np.zeros((40, 40, 40), bool)
    pairs = [((2, 2, 2), (2, 2, 2)), ((12, 2, 2), (13, 2, 2)), ((22, 2, 2), (24, 2, 2)), ((32, 2, 2), (35, 3, 3))]
    for reference_corner, predicted_corner in pairs:  # 4x4x4 lesions, predictions shifted by 0..3 voxels
        cube(truth, reference_corner, (4, 4, 4))
        cube(prediction, predicted_corner, (4, 4, 4))
    cube(truth, (2, 20, 20), (3, 3, 3))              # missed
    cube(prediction, (20, 30, 30), (2, 2, 2))        # false positive
    ious = []
    for reference_corner, predicted_corner in pairs:   # the independent figure: each pair's Jaccard, by MedPy
        r, p = np.zeros_like(truth), np.zeros_like(truth)
        cube(r, reference_corner, (4, 4, 4))
        cube(p, predicted_corner, (4, 4, 4))
        ious.append(binary.jc(p, r))
    assert ious == pytest.approx([1.0, 48 / 80, 32 / 96, 9 / 119])
    for threshold in (0.0, 0.3, 0.5, 0.65):
        counts = lesion_detection(truth, prediction, threshold)
        expected = sum(iou > threshold for iou in ious)
        assert counts == (5, 5, expected)
        assert counts.recall == pytest.approx(expected / 5) and counts.precision == pytest.approx(expected / 5)


def test_lesions_split_or_merged_by_the_prediction_count_once_as_liTS_merges_them():
    truth, prediction = np.zeros((30, 30, 30), bool), np.zeros((30, 30, 30), bool)
    cube(truth, (2, 2, 2), (4, 4, 4))                # two reference lesions...
    cube(truth, (7, 2, 2), (4, 4, 4))
    cube(prediction, (2, 2, 2), (9, 4, 4))           # ...covered by one prediction: merged, IoU 128/144
    cube(truth, (15, 15, 15), (8, 4, 4))             # one reference lesion...
    cube(prediction, (15, 15, 15), (3, 4, 4))        # ...found in two pieces: merged, IoU 96/128
    cube(prediction, (20, 15, 15), (3, 4, 4))
    counts = lesion_detection(truth, prediction, 0.5)
    assert counts == (3, 3, 2)                      # each merged pair is one detection
    assert lesion_detection(truth, prediction, 0.8) == (3, 3, 1)   # 0.889 passes, 0.75 does not


def test_lesion_overlap_is_the_pairs_own_intersection_over_union_and_counts_never_go_negative():
    # Two slips of LiTS's detect_lesions (docs/evaluation.md) that this rule does not copy:
    truth, prediction = np.zeros((30, 8, 8), bool), np.zeros((30, 8, 8), bool)
    cube(truth, (2, 2, 2), (4, 4, 4))
    cube(truth, (8, 2, 2), (4, 4, 4))
    cube(prediction, (1, 2, 2), (20, 4, 4))         # merges both, IoU 128/320: LiTS's code counts -1
    assert lesion_detection(truth, prediction, 0.5) == (2, 1, 0)
    truth, prediction = np.zeros((30, 8, 8), bool), np.zeros((30, 8, 8), bool)
    cube(truth, (2, 2, 2), (2, 2, 2))               # reference lesion 1, untouched
    cube(truth, (10, 2, 2), (6, 4, 4))              # reference lesion 2 ...
    cube(prediction, (10, 2, 2), (8, 4, 3))         # ... and predicted lesion 1: IoU 72/120 = 0.6
    assert lesion_detection(truth, prediction, 0.55) == (2, 1, 1)
    assert lesion_detection(truth, prediction, 0.7) == (2, 1, 0)    # LiTS's code: 72/96, detected


def test_lesions_are_face_connected_components_as_in_liTS():
    truth = np.zeros((10, 10, 10), bool)
    cube(truth, (1, 1, 1), (2, 2, 2))
    cube(truth, (3, 3, 1), (2, 2, 2))               # touches the first along an edge only: a second lesion
    assert lesion_detection(truth, truth) == (2, 2, 2)


def test_lesion_counts_without_lesions_are_undefined_not_zero():
    none = np.zeros((6, 6, 6), bool)
    some = none.copy()
    some[2:4, 2:4, 2:4] = True
    assert math.isnan(lesion_detection(none, none).recall) and math.isnan(lesion_detection(none, none).precision)
    assert lesion_detection(some, none) == (1, 0, 0) and lesion_detection(none, some) == (0, 1, 0)
    assert math.isnan(lesion_detection(none, some).recall) and lesion_detection(none, some).precision == 0.0


def test_liver_is_the_whole_organ_and_tumour_is_label_2():
    truth = np.zeros((10, 10, 10), np.uint8)
    truth[2:8, 2:8, 2:8] = 1
    truth[4:6, 4:6, 4:6] = 2
    prediction = truth.copy()
    prediction[prediction == 2] = 1        # the tumour called liver: the organ is still perfect
    scores = case_scores(truth, prediction, (1, 1, 1), LITS_REGIONS, LITS_LESION_REGION)
    assert scores.regions["liver"].overlap.dice == 1.0
    assert scores.regions["tumour"].overlap.dice == 0.0 and scores.regions["tumour"].overlap.missed
    assert scores.lesions == (1, 0, 0)
    two_classes = active_regions(LITS_REGIONS, 2)
    assert two_classes == {"liver": (1,)}
    scores = case_scores(np.minimum(truth, 1), prediction, (1, 1, 1), two_classes, LITS_LESION_REGION)
    assert set(scores.regions) == {"liver"} and scores.lesions is None


def test_regions_are_any_names_and_labels():
    truth = np.zeros((12, 12, 12), np.uint8)
    truth[1:11, 1:6, 1:11] = 1                       # kidney
    truth[2:5, 2:5, 2:5] = 2                         # tumour, inside it
    truth[1:11, 7:11, 1:11] = 3                      # cyst
    prediction = truth.copy()
    prediction[truth == 3] = 0                       # the cyst missed
    regions = {"kidney": [1, 2, 3], "masses": [2, 3], "tumour": [2]}
    scores = case_scores(truth, prediction, (1, 1, 1), regions, "tumour")
    assert list(scores.regions) == ["kidney", "masses", "tumour"] and scores.lesions == (1, 1, 1)
    assert scores.regions["tumour"].overlap.dice == 1.0 and scores.regions["masses"].overlap.dice < 1.0
    assert active_regions(regions, 3) == {"kidney": (1, 2), "masses": (2,), "tumour": (2,)}
    assert active_regions(regions, 2) == {"kidney": (1,)}
    row = case_row(7, 12, scores, {name: region.overlap for name, region in scores.regions.items()})
    assert [k for k in row if k.startswith(("dice_", "hd95_", "missed_"))] == [
        "dice_kidney", "dice_masses", "dice_tumour", "hd95_kidney_mm", "hd95_masses_mm", "hd95_tumour_mm",
        "missed_kidney", "missed_masses", "missed_tumour"]
    assert headline_columns(row) == ["volume", "dice_kidney", "dice_masses", "dice_tumour", "hd95_kidney_mm",
                                     "hd95_masses_mm", "hd95_tumour_mm", "missed_kidney", "missed_masses",
                                     "missed_tumour", "lesion_recall", "lesion_precision", "slice_grid_dice_kidney",
                                     "slice_grid_dice_masses", "slice_grid_dice_tumour"]


def summary_of(cases, spacing=(1, 1, 1)):
    rows, overlaps, lesions = [], [], []
    for index, (truth, prediction) in enumerate(cases):
        scores = case_scores(truth, prediction, spacing, LITS_REGIONS, LITS_LESION_REGION)
        grid = {name: region.overlap for name, region in scores.regions.items()}
        rows.append(case_row(index, truth.shape[2], scores, grid))
        overlaps.append(grid)
        lesions.append(scores.lesions)
    return rows, mean_row(rows), global_row(rows, overlaps, lesions)


def test_a_missed_liver_makes_the_mean_distances_worse_and_is_counted():
    truth_a = np.zeros((10, 10, 10), np.uint8)
    truth_a[:5] = 1                                   # 500 liver voxels, predicted perfectly, no tumour
    truth_b = np.zeros((10, 10, 10), np.uint8)
    truth_b[:1] = 1                                   # 100 liver voxels, none predicted
    truth_b[0, 0, 0] = 2
    rows, mean, pooled = summary_of([(truth_a, truth_a.copy()), (truth_b, np.zeros_like(truth_b))])
    diagonal = np.sqrt(300)
    assert [row["missed_liver"] for row in rows] == [0, 1] and mean["missed_liver"] == 1
    assert [row["missed_tumour"] for row in rows] == [0, 1] and mean["missed_tumour"] == 1
    for measure in ("assd", "msd", "rmsd", "hd95"):
        assert rows[1][f"{measure}_liver_mm"] == pytest.approx(diagonal)
        assert mean[f"{measure}_liver_mm"] == pytest.approx(diagonal / 2)   # (0 + diagonal) / 2, not 0
    assert mean["dice_liver"] == pytest.approx(0.5)                        # (1 + 0) / 2
    assert mean["voe_liver"] == pytest.approx(0.5) and mean["rvd_liver"] == pytest.approx(-0.5)
    assert pooled["dice_liver"] == pytest.approx(2 * 500 / (600 + 500))    # voxels pooled
    assert pooled["voe_liver"] == pytest.approx(1 - 500 / 600) and pooled["rvd_liver"] == pytest.approx(-100 / 600)
    assert mean["dice_tumour"] == pytest.approx(0.5)                       # no tumour in a, none found in b
    assert pooled["dice_tumour"] == 0.0 and pooled["lesion_recall"] == 0.0
    assert mean["slices"] == pooled["slices"] == 20
    assert missed_line(rows).endswith("liver 1 of 2, tumour 1 of 2")


def test_predicting_nothing_never_improves_the_mean_row():
    truth = np.zeros((16, 16, 8), np.uint8)
    truth[2:8, 2:8, 1:5] = 1
    truth[4:6, 4:6, 2:4] = 2
    poor = truth.copy()
    poor[12:16, 12:16, 6:8] = 1                       # liver far from where it is
    poor[truth == 2] = 0
    poor[14, 2, 6] = 2                                # a tumour in the wrong place
    _, with_poor, _ = summary_of([(truth, truth.copy()), (truth, poor)])
    _, with_nothing, _ = summary_of([(truth, truth.copy()), (truth, np.zeros_like(truth))])
    for region in ("liver", "tumour"):
        assert with_nothing[f"dice_{region}"] <= with_poor[f"dice_{region}"]
        assert with_nothing[f"voe_{region}"] >= with_poor[f"voe_{region}"]
        for measure in ("assd", "msd", "rmsd", "hd95"):
            assert with_nothing[f"{measure}_{region}_mm"] > with_poor[f"{measure}_{region}_mm"]
        assert with_nothing[f"missed_{region}"] == 1 and with_poor[f"missed_{region}"] == 0


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
    diagonal = image_diagonal((64, 64, 16), SPACING_MM)
    for row in result.cases:
        assert row["dice_liver"] == 0.0 and row["slices"] == 16 and row["missed_liver"] == 1
        assert row["hd95_liver_mm"] == pytest.approx(diagonal) and row["lesion_recall"] == 0.0
    assert result.summary[0]["missed_liver"] == 2 and result.summary[0]["hd95_liver_mm"] == pytest.approx(diagonal)
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


def _scoring(cfg):
    return scoring_settings(cfg, class_setup(cfg))


def test_scoring_settings_come_from_the_config_and_bad_values_are_named(tmp_path):
    default = _scoring(tiny_config(tmp_path))
    assert (default.regions, default.lesion_region, default.hd95, default.lesion_overlap) == (
        {"liver": (1, 2), "tumour": (2,)}, "tumour", "max_of_directed", 0.5)
    assert _scoring(tiny_config(tmp_path, "OUTPUT.CLASSES=2")).regions == {"liver": (1,)}
    custom = _scoring(tiny_config(tmp_path, "EVALUATION.HD95=pooled", "EVALUATION.LESION_OVERLAP=0",
                                          "DATASET.REGIONS=[{organ:[1,2]},{tumour:[2]}]", "DATASET.LESION_REGION=null"))
    assert (custom.regions, custom.lesion_region, custom.hd95, custom.lesion_overlap) == (
        {"organ": (1, 2), "tumour": (2,)}, None, "pooled", 0.0)
    for override, message in [("EVALUATION.HD95=mean", r"EVALUATION.HD95 must be one of max_of_directed, pooled; got 'mean'"),
                              ("DATASET.LESION_REGION=liver_tumour", "DATASET.LESION_REGION=liver_tumour is not a region")]:
        with pytest.raises(UserError, match=message):
            _scoring(tiny_config(tmp_path, override))
    with pytest.raises(UserError, match="EVALUATION.LESION_OVERLAP must be a number from 0"):   # checked with the config
        validate_config(tiny_config(tmp_path, "EVALUATION.LESION_OVERLAP=1"))
