"""DICOM CT series in, DICOM SEG out (pydicom, highdicom), on the same RAS+ `Volume` as NIfTI files.

A scanner exports a CT as a DICOM series: one file per slice, named anything, in any order, often
beside other series (a localizer, other phases) and other studies. Here a folder's files are grouped
by SeriesInstanceUID and each CT series becomes the RAS+ `volumes.nifti.Volume` the pipeline reads:
slices ordered by ImagePositionPatient along the slice normal (never by file name or InstanceNumber),
rescale slope and intercept applied, spacing from PixelSpacing and the slice positions, orientation
from ImageOrientationPatient. The voxels go through the same `nibabel.as_closest_canonical` as a NIfTI
file's, so a NIfTI and a DICOM copy of one CT give the network the same slices.

Predictions go back as DICOM SEG: one segment per foreground class, labelled with the class names
(SNOMED codes where one exists), referencing every source slice, so a viewer lays it over the CT.

Privacy: a series is named in messages, figures, file names and summary.csv by `series_name`, its
SeriesNumber and a pseudonym hashed from its SeriesInstanceUID; no other header value leaves this
module except in the SEG, which carries the patient/study identifiers a viewer needs to file it.
"""
import contextlib
import hashlib
import importlib.metadata
import logging
import os
import warnings
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import nibabel as nib
import numpy as np
import pydicom
from pydicom.misc import is_dicom
from pydicom.pixels import get_decoder
from pydicom.sr.codedict import codes

from utils.errors import UserError, warn
from utils.files import write_atomically
from volumes.nifti import Volume, canonical_voxels, to_source_orientation

DICOM_EXTENSIONS = (".dcm", ".dicom", ".ima")   # files with other names count when they start like DICOM
CT_MODALITY = "CT"
SEG_MODALITY = "SEG"
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"         # a media index, not an image: passed over silently
GAP_TOLERANCE = 0.02                            # slice gaps may differ from the median by 2% (+0.01 mm rounding)
GAP_TOLERANCE_MM = 0.01
SEG_SERIES_NUMBER = 9901                         # the SEG's own series number (any; viewers list it beside the CT)
PSEUDONYM_DIGITS = 8
# What reading a damaged or foreign DICOM file raises (pydicom's InvalidDicomError is a ValueError subclass
# in some versions, an Exception in others).
READ_ERRORS = (OSError, EOFError, ValueError, KeyError, AttributeError, TypeError, NotImplementedError,
               pydicom.errors.InvalidDicomError)

# Segment codes by class name (lower case): (property category, property type). One table, owned here;
# a class not listed gets the generic category and type 'Tissue' and keeps its name as the segment label.
SEGMENT_CODES = {
    "liver": (codes.cid7150.AnatomicalStructure, codes.SCT.Liver),
    "kidney": (codes.cid7150.AnatomicalStructure, codes.SCT.Kidney),
    "tumour": (codes.cid7150.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm),
    "tumor": (codes.cid7150.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm),
}
GENERIC_CODES = (codes.cid7150.Tissue, codes.SCT.Tissue)


class Series(NamedTuple):
    """A DICOM series found on disk: its files, and what it is called in messages (no patient data).

    A plain tuple (strings and numbers), so preprocessing's worker processes can receive it.
    """
    files: Tuple[str, ...]
    uid: str                      # SeriesInstanceUID: pairs a SEG with its series; never printed
    number: Optional[int]         # SeriesNumber, as a viewer shows it
    pseudonym: int                # PSEUDONYM_DIGITS digits hashed from the UID: the volume id of this series
    modality: str
    instance_uids: Tuple[str, ...] = ()   # SOPInstanceUID of each file: pairs a SEG that names slices only
    reference: Optional[str] = None       # the one DICOM SEG found with it that references it, if any

    @property
    def name(self) -> str:
        """`series3-40213377`: SeriesNumber and pseudonym, the only way a series is named anywhere."""
        return series_name(self.number, self.uid)


class SegFile(NamedTuple):
    """A DICOM SEG found on disk and the series (UIDs) and slices (SOP instance UIDs) it references."""
    path: str
    series_uids: Tuple[str, ...]
    instance_uids: Tuple[str, ...]


def pseudonym(uid: str) -> int:
    """A stable PSEUDONYM_DIGITS-digit number for a UID (the same series gets the same id in every run)."""
    digest = int(hashlib.sha256(str(uid).encode()).hexdigest(), 16)
    low = 10 ** (PSEUDONYM_DIGITS - 1)
    return low + digest % (9 * low)


def series_name(number, uid: str) -> str:
    number = _int_or_none(number)
    return f"series{number if number is not None else ''}-{pseudonym(uid)}"


def _int_or_none(value) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@contextlib.contextmanager
def _quiet():
    """pydicom's and highdicom's own warnings can quote header values; our messages say what matters."""
    loggers = [logging.getLogger(name) for name in ("highdicom", "pydicom")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def software_version() -> str:
    """What the SEG names as its software: unet3p and its version where the package is installed."""
    try:
        return f"unet3p {importlib.metadata.version('unet3p')}"
    except importlib.metadata.PackageNotFoundError:
        return "unet3p"


# --- finding series ------------------------------------------------------------------------------

def is_dicom_candidate(path: str) -> bool:
    """A file that may be DICOM: named .dcm/.dicom/.ima, or starting with the DICOM preamble (any name)."""
    name = os.path.basename(path)
    if name.startswith(".") or name.endswith((".nii", ".nii.gz")):
        return False
    if name.lower().endswith(DICOM_EXTENSIONS):
        return True
    try:
        return is_dicom(path)
    except OSError:
        return False


def dicom_files(directory: str) -> List[str]:
    """Every DICOM candidate under directory (recursively: exports nest patient/study/series folders)."""
    found = []
    for root, folders, names in os.walk(directory):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        found += [os.path.join(root, n) for n in sorted(names) if is_dicom_candidate(os.path.join(root, n))]
    return found


def _read_header(path: str):
    with _quiet():
        return pydicom.dcmread(path, stop_before_pixels=True, force=True)


def scan(files: Iterable[str]) -> Tuple[List[Series], List[SegFile]]:
    """Group DICOM files into CT series and SEG files; every other series gets one warning line.

    Unreadable files are warned about one by one (by file name); a DICOMDIR index is passed over.
    """
    groups: Dict[str, List[Tuple[str, object]]] = {}
    segs = []
    for path in files:
        try:
            header = _read_header(path)
            uid = str(header.get("SeriesInstanceUID", ""))
        except READ_ERRORS as err:
            warn(f"{path} is not a readable DICOM file ({type(err).__name__}); skipped")
            continue
        sop_class = str(header.get("SOPClassUID", "") or getattr(header.get("file_meta", None),
                                                                 "MediaStorageSOPClassUID", ""))
        if sop_class == DICOMDIR_CLASS:
            continue
        if not uid:
            warn(f"{path} has no SeriesInstanceUID (not a DICOM image?); skipped")
            continue
        if str(header.get("Modality", "")).upper() == SEG_MODALITY:
            segs.append(_seg_file(path, header))
            continue
        groups.setdefault(uid, []).append((path, header))
    series = []
    for uid, members in groups.items():
        header = members[0][1]
        found = Series(tuple(path for path, _ in members), uid, _int_or_none(header.get("SeriesNumber")),
                       pseudonym(uid), str(header.get("Modality", "")).upper(),
                       tuple(str(h.get("SOPInstanceUID", "")) for _, h in members))
        if found.modality != CT_MODALITY:
            warn(f"{found.name}: modality {found.modality or 'missing'}, not CT; skipped")
            continue
        series.append(found)
    return sorted(series, key=lambda s: (s.number if s.number is not None else -1, s.pseudonym)), segs


def _seg_file(path: str, header) -> SegFile:
    series_uids, instances = [], []
    for item in header.get("ReferencedSeriesSequence", []):
        series_uids.append(str(item.get("SeriesInstanceUID", "")))
        instances += [str(i.ReferencedSOPInstanceUID) for i in item.get("ReferencedInstanceSequence", [])
                      if "ReferencedSOPInstanceUID" in i]
    for frame in header.get("PerFrameFunctionalGroupsSequence", []):   # frames name their source slices too
        for derivation in frame.get("DerivationImageSequence", []):
            instances += [str(s.ReferencedSOPInstanceUID) for s in derivation.get("SourceImageSequence", [])
                          if "ReferencedSOPInstanceUID" in s]
    return SegFile(path, tuple(u for u in series_uids if u), tuple(dict.fromkeys(instances)))


def find_series(paths: Sequence[str]) -> List[Series]:
    """The CT series in these files and folders (folders searched recursively), each with the DICOM SEG
    found with it as its `reference` when exactly one references it (predict.py shows it as the truth)."""
    files = []
    for path in paths:
        files += dicom_files(path) if os.path.isdir(path) else [path]
    series, segs = scan(files)
    claimed = _claims(series, segs)[0]
    return [s._replace(reference=claimed[s.uid][0]) if len(claimed.get(s.uid, [])) == 1 else s for s in series]


def _claims(series: List[Series], segs: List[SegFile]) -> Tuple[Dict[str, List[str]], List[Tuple[SegFile, int]]]:
    """{series UID: paths of the SEGs referencing it}, and the SEGs referencing no series or several (with how many).

    A SEG is matched to its series by ReferencedSeriesSequence, or by the slices it references.
    """
    by_uid = {s.uid: s for s in series}
    by_instance = {instance: s.uid for s in series for instance in s.instance_uids}
    claimed: Dict[str, List[str]] = {}
    unmatched = []
    for seg in segs:
        uids = [u for u in seg.series_uids if u in by_uid] or sorted(
            {by_instance[i] for i in seg.instance_uids if i in by_instance})
        if len(uids) == 1:
            claimed.setdefault(uids[0], []).append(seg.path)
        else:
            unmatched.append((seg, len(uids)))
    return claimed, unmatched


def series_pairs(directory: str) -> List[Tuple[int, Series, str]]:
    """(pseudonym, series, SEG path) for each CT series under directory with one reference SEG.

    A series without a SEG, a SEG without its series, and a series two SEGs claim get one warning each.
    """
    series, segs = scan(dicom_files(directory))
    claimed, unmatched = _claims(series, segs)
    for seg, count in unmatched:
        warn(f"{seg.path} references {'no CT series' if not count else 'several CT series'} in {directory}; "
             f"skipped")
    pairs = []
    for s in series:
        paths = claimed.get(s.uid, [])
        if not paths:
            warn(f"{s.name} has no DICOM SEG referencing it in {directory}; skipped")
        elif len(paths) > 1:
            warn(f"{s.name} is referenced by {len(paths)} DICOM SEG files ({', '.join(map(os.path.basename, paths))});"
                  f" keep one; skipped")
        else:
            pairs.append((s.pseudonym, s._replace(reference=paths[0]), paths[0]))
    return sorted(pairs, key=lambda pair: pair[0])


# --- reading a series ----------------------------------------------------------------------------

def _slice_normal(orientation: np.ndarray) -> np.ndarray:
    return np.cross(orientation[:3], orientation[3:])


def _check_decodable(datasets, name: str) -> None:
    """Refuse a compressed transfer syntax no installed decoder reads, naming it and what would read it."""
    syntax = datasets[0].file_meta.get("TransferSyntaxUID") if hasattr(datasets[0], "file_meta") else None
    if syntax is None or not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise UserError(f"{name}: transfer syntax {syntax.name} has no decoder in pydicom; decompress the series "
                        f"(e.g. `gdcmconv --raw`)") from None
    if not decoder.is_available:
        options = "; ".join(decoder.missing_dependencies) or "a plugin"
        raise UserError(f"{name}: compressed as {syntax.name}, which no installed decoder reads (install {options}, "
                        f"or decompress the series with `gdcmconv --raw`)")


def _check_uniform(datasets, name: str) -> np.ndarray:
    """One image geometry for every slice; returns ImageOrientationPatient. A UserError says what differs."""
    first = datasets[0]
    frames = max(_int_or_none(ds.get("NumberOfFrames")) or 1 for ds in datasets)
    if frames > 1:   # first: an enhanced CT keeps its positions per frame, not where the checks below look
        raise UserError(f"{name}: multi-frame (enhanced) CT with {frames} frames in one file is not read here; "
                        f"export the series as one file per slice")
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        missing = sum(keyword not in ds for ds in datasets)
        if missing:
            raise UserError(f"{name}: {missing} slice(s) have no {keyword}, so the slices cannot be placed in space")
    if any(int(ds.get("SamplesPerPixel", 1)) != 1 or not str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
           .startswith("MONOCHROME") for ds in datasets):
        raise UserError(f"{name}: colour pixels; a CT holds one grey value per pixel")
    if "LOCALIZER" in [str(v).upper() for v in first.get("ImageType", [])]:
        raise UserError(f"{name}: a localizer (scout) image, not cross-sections")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    for ds in datasets[1:]:
        if (ds.Rows, ds.Columns) != (first.Rows, first.Columns):
            raise UserError(f"{name}: slices of different sizes ({first.Rows}x{first.Columns} and "
                            f"{ds.Rows}x{ds.Columns}): a mixed series")
        if not np.allclose(np.asarray(ds.ImageOrientationPatient, dtype=np.float64), orientation, atol=1e-4):
            raise UserError(f"{name}: slices in different orientations (ImageOrientationPatient differs): a mixed "
                            f"series, e.g. a localizer or reformats stored with the CT")
        if not np.allclose(np.asarray(ds.PixelSpacing, dtype=np.float64),
                           np.asarray(first.PixelSpacing, dtype=np.float64), rtol=1e-4):
            raise UserError(f"{name}: slices with different PixelSpacing: a mixed series")
    return orientation


def _ordered(datasets, normal: np.ndarray, name: str):
    """The slices sorted along the normal, and the step between neighbours (a 3-vector in LPS mm).

    Refuses two slices at one position (two acquisitions or phases in one series) and uneven gaps
    (missing slices, or slices of several scans), naming how many and where.
    """
    positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=np.float64) for ds in datasets])
    distances = positions @ normal
    order = np.argsort(distances, kind="stable")
    datasets, positions, distances = [datasets[i] for i in order], positions[order], distances[order]
    if len(datasets) == 1:
        thickness = float(datasets[0].get("SpacingBetweenSlices", 0) or datasets[0].get("SliceThickness", 0) or 0)
        if thickness <= 0:
            warn(f"{name}: one slice without SliceThickness; assuming 1 mm, so distances in mm across slices "
                  f"are in voxels")
            thickness = 1.0
        return datasets, normal * thickness
    gaps = np.diff(distances)
    tolerance = GAP_TOLERANCE * float(np.median(gaps)) + GAP_TOLERANCE_MM
    stacked = int(np.sum(gaps <= GAP_TOLERANCE_MM))
    if stacked:
        raise UserError(f"{name}: {len(datasets)} slices at only {len(datasets) - stacked} positions (more than one "
                        f"acquisition or phase in one series?); split the series")
    typical = float(np.median(gaps))
    if np.any(np.abs(gaps - typical) > tolerance):
        missing = int(np.sum(np.maximum(np.rint(gaps / typical) - 1, 0)))
        where = float(distances[int(np.argmax(np.abs(gaps - typical)))])
        detail = (f"about {missing} slice(s) missing (the widest gap after {where:.1f} mm along the slice normal)"
                  if missing else "slices not evenly spaced")
        raise UserError(f"{name}: slice gaps range from {gaps.min():.3g} to {gaps.max():.3g} mm: {detail}; "
                        f"a CT volume needs evenly spaced slices")
    step = (positions[-1] - positions[0]) / (len(datasets) - 1)
    off_line = np.linalg.norm(positions - (positions[0] + np.outer(np.arange(len(datasets)), step)), axis=1)
    if off_line.max() > tolerance:
        raise UserError(f"{name}: slice positions do not lie on one line ({off_line.max():.3g} mm off): "
                        f"a mixed series")
    return datasets, step


def _hounsfield(datasets, name: str) -> np.ndarray:
    """Stored values through each slice's own RescaleSlope/Intercept: (rows, cols, slices), int16 when exact."""
    slopes = np.array([float(ds.get("RescaleSlope", 1) or 1) for ds in datasets])
    intercepts = np.array([float(ds.get("RescaleIntercept", 0) or 0) for ds in datasets])
    try:
        with _quiet():
            stored = np.stack([ds.pixel_array for ds in datasets], axis=-1)
    except READ_ERRORS + (RuntimeError,) as err:
        raise UserError(f"{name}: pixel data cannot be decoded ({type(err).__name__}: "
                        f"{' '.join(str(err).split())[:120]})") from None
    hu = stored.astype(np.float32) * slopes.astype(np.float32) + intercepts.astype(np.float32)
    exact = np.all(slopes == np.round(slopes)) and np.all(intercepts == np.round(intercepts))
    if exact and hu.min() >= np.iinfo(np.int16).min and hu.max() <= np.iinfo(np.int16).max:
        return hu.astype(np.int16)
    return hu


def ras_affine(orientation: np.ndarray, pixel_spacing, step: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """The RAS affine of voxel (column i, row j, slice k), from DICOM's LPS geometry.

    DICOM: pixel (row j, column i) of slice k lies at origin + i*Δc*row_dir + j*Δr*col_dir + k*step,
    with ImageOrientationPatient = (row_dir, col_dir) and PixelSpacing = (Δr, Δc). RAS = LPS with
    the first two axes negated (how dcm2niix and nibabel's DICOM readers place DICOM in NIfTI space).
    """
    row_spacing, column_spacing = (float(v) for v in pixel_spacing)
    lps = np.eye(4)
    lps[:3, 0] = orientation[:3] * column_spacing
    lps[:3, 1] = orientation[3:] * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = origin
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def load_series(series: Series) -> Volume:
    """The series as a RAS+ `Volume` (voxels as any NIfTI file's), its headers kept for the SEG.

    A UserError names the series (never the patient) and the one problem that stops it.
    """
    name = series.name
    try:
        with _quiet():
            datasets = [pydicom.dcmread(path, force=True) for path in series.files]
    except READ_ERRORS as err:
        raise UserError(f"{name}: a file cannot be read ({type(err).__name__})") from None
    unique = {str(ds.get("SOPInstanceUID", i)): ds for i, ds in enumerate(datasets)}   # one copy of each slice
    datasets = list(unique.values())
    orientation = _check_uniform(datasets, name)
    _check_decodable(datasets, name)
    datasets, step = _ordered(datasets, _slice_normal(orientation), name)
    hu = _hounsfield(datasets, name)
    affine = ras_affine(orientation, datasets[0].PixelSpacing, step,
                        np.asarray(datasets[0].ImagePositionPatient, dtype=np.float64))
    image = nib.Nifti1Image(np.ascontiguousarray(hu.transpose(1, 0, 2)), affine)   # (column, row, slice)
    image.header.set_xyzt_units("mm")
    data, spacing = canonical_voxels(image)
    for ds in datasets:   # headers are what the SEG needs; the pixels are in `data`
        if "PixelData" in ds:
            del ds.PixelData
    folder = os.path.dirname(series.files[0])
    return Volume(data, spacing, image, folder, dicom=tuple(datasets), label=name)


# --- DICOM SEG -----------------------------------------------------------------------------------

def segment_codes(class_name: str):
    """(category, type) codes of a class: SNOMED CT where SEGMENT_CODES has one, else generic 'Tissue'."""
    return SEGMENT_CODES.get(class_name.lower(), GENERIC_CODES)


def _source_frames(labels, volume: Volume) -> np.ndarray:
    """RAS+ labels as (slice, row, column) frames in the order of the volume's source slices."""
    return np.ascontiguousarray(to_source_orientation(np.asarray(labels, dtype=np.uint8),
                                                      volume.source).transpose(2, 1, 0))


def save_seg(labels: np.ndarray, volume: Volume, out_path: str, class_names: Sequence[str]) -> str:
    """Write RAS+ labels as a DICOM SEG over the volume's source series; atomically.

    One binary segment per foreground class (label value = segment number = class index), labelled
    with the class name, referencing every source slice; patient and study identifiers come from the
    source (what a viewer files the SEG under), nothing else.
    """
    import highdicom as hd

    if volume.dicom is None:
        raise UserError(f"{volume.name} is not a DICOM series; a DICOM SEG is written only over DICOM input "
                        f"(PREDICTION.OUTPUT_FORMAT)")
    frames = _source_frames(labels, volume)
    version = software_version()
    algorithm = hd.AlgorithmIdentificationSequence(name="UNet 3+ (unet3p)", version=version,
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions = []
    for number, class_name in enumerate(class_names[1:], start=1):
        category, kind = segment_codes(class_name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=class_name, segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm))
    if frames.max(initial=0) > len(descriptions):
        raise ValueError(f"labels up to {frames.max()} but only {len(descriptions)} foreground class names")
    with _quiet():
        seg = hd.seg.Segmentation(
            source_images=list(volume.dicom), pixel_array=frames,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
            series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="unet3p", manufacturer_model_name="UNet 3+ (unet3p)",
            software_versions=version, device_serial_number="none",
            series_description="unet3p segmentation", content_label="UNET3P")
    return write_atomically(out_path, lambda temporary: seg.save_as(temporary))


def class_of_segment(segment, class_names: Sequence[str]) -> Optional[int]:
    """The class index a SEG segment stands for: by its label (any case), else by its coded property type."""
    names = [n.lower() for n in class_names]
    label = str(segment.get("SegmentLabel", "")).strip().lower()
    if label in names[1:]:
        return names.index(label)
    for item in segment.get("SegmentedPropertyTypeCodeSequence", []):
        for index, name in enumerate(names[1:], start=1):
            code = SEGMENT_CODES.get(name)
            if code and item.CodeValue == code[1].value and item.CodingSchemeDesignator == code[1].scheme_designator:
                return index
    return None


def read_seg_labels(path: str, volume: Volume, class_names: Sequence[str]) -> np.ndarray:
    """A DICOM SEG as RAS+ uint8 labels on the grid of the series `volume` was read from.

    Segments are matched to classes by `class_of_segment`; where segments overlap the higher class
    wins (a tumour inside a liver segment is tumour, as in LiTS's labels). A segment that matches no
    class gets one warning line and is left out.
    """
    import highdicom as hd

    name = f"{os.path.basename(path)} ({volume.name})"
    try:
        with _quiet():
            seg = hd.seg.segread(path)
    except READ_ERRORS as err:
        raise UserError(f"{name}: not a readable DICOM SEG ({type(err).__name__})") from None
    uids = [str(ds.SOPInstanceUID) for ds in volume.dicom]
    classes = {}
    for segment in seg.SegmentSequence:
        index = class_of_segment(segment, class_names)
        if index is None:
            warn(f"{name}: segment {segment.SegmentNumber} '{segment.get('SegmentLabel', '')}' matches none of the "
                  f"classes {list(class_names[1:])}; left out")
        else:
            classes[int(segment.SegmentNumber)] = index
    if not classes:
        raise UserError(f"{name}: no segment matches the classes {list(class_names[1:])}")
    labels = np.zeros((len(uids), volume.dicom[0].Rows, volume.dicom[0].Columns), dtype=np.uint8)
    try:
        with _quiet():
            for number, index in sorted(classes.items(), key=lambda item: item[1]):
                mask = seg.get_pixels_by_source_instance(uids, segment_numbers=[number],
                                                         assert_missing_frames_are_empty=True)[..., 0]
                labels[mask > 0] = index
    except (ValueError, KeyError, IndexError, AttributeError, RuntimeError) as err:
        raise UserError(f"{name}: its frames cannot be placed on the series' slices "
                        f"({' '.join(str(err).split())[:160]})") from None
    return _to_canonical(labels.transpose(2, 1, 0), volume)


def _to_canonical(voxels: np.ndarray, volume: Volume) -> np.ndarray:
    """(column, row, slice) voxels of the series into the RAS+ order `load_series` gave its CT."""
    return canonical_voxels(nib.Nifti1Image(np.ascontiguousarray(voxels), volume.source.affine))[0]
