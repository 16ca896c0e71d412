"""The LiTS measures of one case, for any named regions: overlap, surface distances in mm, lesion detection.

A region is a name and the labels that make it up (LiTS: "liver" is labels 1 and 2, tumours are part
of the liver; "tumour" is label 2); the regions come in as plain arguments, LiTS's are the defaults.
Every definition, its source and the conventions for empty masks: docs/evaluation.md. Surface
distances come from MedPy (what LiTS's evaluation used), connected components from scipy.ndimage.
"""
import math
from typing import Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage


# LiTS's scoring regions (name -> labels) and the one scored lesion by lesion.
LITS_REGIONS: Dict[str, Tuple[int, ...]] = {"liver": (1, 2), "tumour": (2,)}
LITS_LESION_REGION = "tumour"
# LiTS's lesion detection rule counts a reference lesion as detected when its matched prediction
# overlaps it by more than this intersection over union (LiTS's headline precision and recall).
LITS_LESION_OVERLAP = 0.5
# Surface voxels are those with a background voxel among their 18 face- and edge-neighbours, as in
# LiTS's evaluation (helpers/surface.py); MedPy's `connectivity` argument, 2 in 3D.
SURFACE_CONNECTIVITY = 2


def active_regions(regions: Mapping[str, Sequence[int]], classes: int) -> Dict[str, Tuple[int, ...]]:
    """The regions a model with `classes` output classes can predict: labels >= classes left out of each
    region, a region with none left dropped (LiTS with 2 classes: liver = label 1, no tumour)."""
    kept = {name: tuple(int(label) for label in labels if int(label) < classes) for name, labels in regions.items()}
    return {name: labels for name, labels in kept.items() if labels}


class Overlap(NamedTuple):
    """Voxel counts behind the overlap measures, kept so that they can also be pooled over all cases."""
    intersection: int
    truth: int
    prediction: int

    @property
    def dice(self) -> float:
        """2|T∩P| / (|T|+|P|); 1.0 when both are empty (nothing to find, nothing found)."""
        total = self.truth + self.prediction
        return 1.0 if total == 0 else 2.0 * self.intersection / total

    @property
    def iou(self) -> float:
        """Intersection over union |T∩P| / |T∪P| (Jaccard, 1 - VOE); 1.0 when both are empty, as Dice."""
        return 1.0 - self.voe

    @property
    def voe(self) -> float:
        """Volumetric overlap error 1 - |T∩P| / |T∪P| (1 - Jaccard); 0.0 when both are empty."""
        union = self.truth + self.prediction - self.intersection
        return 0.0 if union == 0 else 1.0 - self.intersection / union

    @property
    def rvd(self) -> float:
        """Relative volume difference (|P|-|T|) / |T|, signed (> 0: too large); 0.0 when both are
        empty, +inf when only the truth is (no finite value says how wrong a volume from nothing is)."""
        if self.truth == 0:
            return 0.0 if self.prediction == 0 else math.inf
        return (self.prediction - self.truth) / self.truth

    @property
    def missed(self) -> bool:
        """One of truth and prediction is empty and the other is not: the structure was missed, or
        predicted where there is none. Surface distances then take the image diagonal."""
        return (self.truth == 0) != (self.prediction == 0)


def overlap(truth: np.ndarray, prediction: np.ndarray) -> Overlap:
    truth, prediction = truth.astype(bool), prediction.astype(bool)
    if truth.shape != prediction.shape:
        raise ValueError(f"volumes differ in shape: {truth.shape} vs {prediction.shape}")
    return Overlap(int(np.count_nonzero(truth & prediction)), int(np.count_nonzero(truth)),
                   int(np.count_nonzero(prediction)))


def pooled_overlap(overlaps: Sequence[Overlap]) -> Overlap:
    """One Overlap of all cases' voxels together: LiTS's global Dice (and VOE, RVD) from it."""
    return Overlap(*(sum(o[k] for o in overlaps) for k in range(3)))


def _bounding_box(mask: np.ndarray, margin: int = 1) -> tuple:
    """Slices around a mask's voxels plus `margin`: surface distances inside it equal those of the whole volume."""
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, size)) for s, size in zip(box, mask.shape))


def _medpy_surface_distances():
    """MedPy's distances from every surface voxel of one mask to the other's surface, as its assd/hd use
    them; imported on first use (MedPy pulls in scipy.stats, ~2 s), so that region helpers stay light."""
    from medpy.metric import binary as medpy_binary

    return getattr(medpy_binary, "__surface_distances")


def image_diagonal(shape: Sequence[int], spacing) -> float:
    """The diagonal of the whole volume in mm: longer than any distance between two of its voxels,
    so a structure missed outright scores worse than any prediction that has a surface (BraTS's rule)."""
    return float(math.sqrt(sum((n * float(s)) ** 2 for n, s in zip(shape, spacing))))


def _hd95_max_of_directed(from_prediction: np.ndarray, from_truth: np.ndarray) -> float:
    """max of the two one-way 95th percentiles: MONAI's compute_hausdorff_distance and DeepMind's
    surface-distance compute_robust_hausdorff."""
    return float(max(np.percentile(from_prediction, 95), np.percentile(from_truth, 95)))


def _hd95_pooled(from_prediction: np.ndarray, from_truth: np.ndarray) -> float:
    """95th percentile of both one-way distance sets together: medpy.metric.binary.hd95."""
    return float(np.percentile(np.concatenate((from_prediction, from_truth)), 95))


# EVALUATION.HD95's valid names: how the two one-way distance sets make one 95th percentile.
HD95_CONVENTIONS = {"max_of_directed": _hd95_max_of_directed, "pooled": _hd95_pooled}


class SurfaceDistances(NamedTuple):
    """Symmetric surface distances in mm (docs/evaluation.md): average (ASSD), maximum (MSD, the
    Hausdorff distance), root mean square (RMSD) and the 95th percentile (HD95)."""
    assd: float
    msd: float
    rmsd: float
    hd95: float


def surface_distances(truth: np.ndarray, prediction: np.ndarray, spacing,
                      hd95: str = "max_of_directed") -> SurfaceDistances:
    """ASSD, MSD, RMSD and HD95 (convention `hd95`, a HD95_CONVENTIONS name) between two boolean volumes.

    Both empty: 0 (nothing to find, nothing found). One empty: every distance is the volume's
    diagonal (image_diagonal), never NaN, so that a missed structure cannot drop out of a mean.
    Both are cropped to their joint bounding box first (every surface voxel lies inside it), which
    turns minutes of distance transforms on a 512x512x800 CT into seconds.
    """
    percentile = HD95_CONVENTIONS[hd95]
    has_truth, has_prediction = bool(truth.any()), bool(prediction.any())
    if not has_truth and not has_prediction:
        return SurfaceDistances(0.0, 0.0, 0.0, 0.0)
    if has_truth != has_prediction:
        return SurfaceDistances(*[image_diagonal(truth.shape, spacing)] * 4)
    box = _bounding_box(truth | prediction)
    truth, prediction = truth[box], prediction[box]
    spacing = tuple(float(s) for s in spacing)
    surface_distances_from = _medpy_surface_distances()
    # The two one-way distance sets, computed once for all four measures (medpy.assd, hd and hd95
    # each compute both; tests/test_evaluation.py checks the equalities).
    from_prediction = surface_distances_from(prediction, truth, spacing, SURFACE_CONNECTIVITY)
    from_truth = surface_distances_from(truth, prediction, spacing, SURFACE_CONNECTIVITY)
    both = np.concatenate((from_prediction, from_truth))
    return SurfaceDistances(float(both.mean()), float(both.max()), float(np.sqrt(np.mean(both ** 2))),
                            percentile(from_prediction, from_truth))


class LesionCounts(NamedTuple):
    """Lesion-wise detection by LiTS's rule (lesion_detection): detected = true positives."""
    reference: int
    predicted: int
    detected: int

    @property
    def recall(self) -> float:
        """Detected / reference lesions (LiTS: TP / (TP + FN)); NaN without reference lesions."""
        return self.detected / self.reference if self.reference else float("nan")

    @property
    def precision(self) -> float:
        """Detected / predicted lesions (LiTS: TP / (TP + FP)); NaN without predicted lesions."""
        return self.detected / self.predicted if self.predicted else float("nan")


def pooled_lesion_counts(counts: Sequence[LesionCounts]) -> LesionCounts:
    """All cases' lesions together: LiTS's detection precision and recall are computed this way."""
    return LesionCounts(*(sum(c[k] for c in counts) for k in range(3)))


def lesion_detection(truth: np.ndarray, prediction: np.ndarray,
                     min_overlap: float = LITS_LESION_OVERLAP) -> LesionCounts:
    """Lesions of both volumes (face-connected components, scipy.ndimage.label's default, as LiTS) and
    how many are detected by LiTS's rule (detect_lesions in LiTS's evaluation, docs/evaluation.md):

    1. each reference lesion goes to the predicted lesion overlapping it most; reference lesions that
       go to the same predicted lesion are merged into one;
    2. each predicted lesion touching a reference goes to the (merged) reference lesion it overlaps
       most; predicted lesions that go to the same one are merged;
    3. a merged pair counts as one detection when its intersection over union is > min_overlap.
    Ties go to the lowest label, as np.argmax in LiTS's code.
    """
    truth, prediction = truth.astype(bool), prediction.astype(bool)
    if truth.shape != prediction.shape:
        raise ValueError(f"volumes differ in shape: {truth.shape} vs {prediction.shape}")
    if truth.any() or prediction.any():
        box = _bounding_box(truth | prediction)
        truth, prediction = truth[box], prediction[box]
    reference_ids, reference = ndimage.label(truth)
    predicted_ids, predicted = ndimage.label(prediction)
    both = truth & prediction
    if not both.any():
        return LesionCounts(reference, predicted, 0)
    # intersections[i, j]: voxels of predicted lesion i+1 inside reference lesion j+1
    pairs = (predicted_ids[both].astype(np.int64) - 1) * reference + reference_ids[both] - 1
    intersections = np.bincount(pairs, minlength=predicted * reference).reshape(predicted, reference)
    reference_sizes = np.bincount(reference_ids.ravel(), minlength=reference + 1)[1:]
    predicted_sizes = np.bincount(predicted_ids.ravel(), minlength=predicted + 1)[1:]
    # 1. reference lesions grouped by the predicted lesion overlapping them most (untouched ones never match)
    owners = intersections.argmax(axis=0)
    touched = np.flatnonzero(intersections.any(axis=0))
    groups = list(dict.fromkeys(owners[touched]))          # ordered by each group's lowest reference label
    members = [touched[owners[touched] == owner] for owner in groups]
    group_intersections = np.stack([intersections[:, m].sum(axis=1) for m in members], axis=1)
    # 2. every predicted lesion touching a reference goes to the group it overlaps most
    touching = np.flatnonzero(intersections.any(axis=1))
    matches = group_intersections[touching].argmax(axis=1)
    # 3. intersection over union of each group and its predicted lesions
    detected = 0
    for g, reference_members in enumerate(members):
        matched = touching[matches == g]
        if not len(matched):
            continue
        intersection = int(group_intersections[matched, g].sum())
        union = int(predicted_sizes[matched].sum() + reference_sizes[reference_members].sum()) - intersection
        detected += intersection / union > min_overlap
    return LesionCounts(reference, predicted, int(detected))


class RegionScores(NamedTuple):
    overlap: Overlap
    distances: SurfaceDistances


class CaseScores(NamedTuple):
    """Scores of one case: by region name, and the lesion counts of the lesion region (None without one)."""
    regions: Dict[str, RegionScores]
    lesions: Optional[LesionCounts]


def case_scores(truth_labels: np.ndarray, predicted_labels: np.ndarray, spacing,
                regions: Mapping[str, Sequence[int]], lesion_region: Optional[str], hd95: str = "max_of_directed",
                lesion_overlap: float = LITS_LESION_OVERLAP) -> CaseScores:
    """Every measure of one case for each region (name -> labels), plus lesion detection in `lesion_region`.

    Pass only regions the model can predict (active_regions); a lesion_region that is not among
    them is not scored.
    """
    scores, lesions = {}, None
    for name, labels in regions.items():
        truth, prediction = np.isin(truth_labels, labels), np.isin(predicted_labels, labels)
        scores[name] = RegionScores(overlap(truth, prediction), surface_distances(truth, prediction, spacing, hd95))
        if name == lesion_region:
            lesions = lesion_detection(truth, prediction, lesion_overlap)
    return CaseScores(scores, lesions)


class Scoring(NamedTuple):
    """What evaluate.py scores: the regions (name -> labels), the region scored lesion by lesion (or
    None), the HD95 convention (a HD95_CONVENTIONS name) and LiTS's lesion overlap threshold."""
    regions: Mapping[str, Sequence[int]] = LITS_REGIONS
    lesion_region: Optional[str] = LITS_LESION_REGION
    hd95: str = "max_of_directed"
    lesion_overlap: float = LITS_LESION_OVERLAP

    def for_classes(self, classes: int) -> "Scoring":
        """This scoring for a model with `classes` output classes (active_regions)."""
        regions = active_regions(self.regions, classes)
        return self._replace(regions=regions, lesion_region=self.lesion_region if self.lesion_region in regions else None)

    def score(self, truth_labels: np.ndarray, predicted_labels: np.ndarray, spacing) -> CaseScores:
        return case_scores(truth_labels, predicted_labels, spacing, self.regions, self.lesion_region, self.hd95,
                           self.lesion_overlap)
