"""Reading LiTS NIfTI files in one canonical orientation, and writing label volumes back on their grid.

LiTS volumes come in several orientations (flipped axes, axes in other orders), as int16 or float
HU, as `.nii` or `.nii.gz`. Everything downstream (slicing, training, scoring) sees RAS+ arrays:
axis 2 runs feet to head, so slice k is always an axial slice and neighbours are in the same
order. Predictions are turned back into the file's own orientation before they are written, so
they overlay the source CT voxel for voxel.
"""
import contextlib
import gzip
import logging
import os
import re
import zlib
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import nibabel as nib
import numpy as np
from nibabel.orientations import (aff2axcodes, apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation,
                                  ornt_transform)

from utils.errors import UserError, warn
from utils.files import write_atomically

NIFTI_EXTENSIONS = (".nii.gz", ".nii")
SEGMENTATION_SUFFIX = "_segmentation"   # predict.py's mask of a CT not named volume-N: <name>_segmentation.nii.gz
# What reading a damaged or foreign file raises; anything else is a bug and should surface.
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError,
               nib.spatialimages.HeaderDataError)
LITS_LABEL_COUNT = 3      # LiTS labels 0 background, 1 liver, 2 tumour: the default where no class list is given
AIR_BELOW_HU = -500.0   # some air (about -1000 HU) is in every CT that shows the body's outline
_MM_PER_UNIT = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}   # NIfTI xyzt_units, spatial part
_CANONICAL = axcodes2ornt(("R", "A", "S"))
# LiTS file names `<kind>-N.nii(.gz)`; the test set's test-volume-N CTs are scored by its server from
# masks named test-segmentation-N.nii.
# Names are matched in any case (`Volume-7.NII`), as Windows and some exports write them.
_LITS_FILES = {kind: re.compile(rf"^{kind}-(\d+)\.nii(\.gz)?$", re.IGNORECASE)
               for kind in ("volume", "segmentation", "test-volume", "test-segmentation")}


class Volume(NamedTuple):
    """A CT (or label) volume as RAS+ voxels, with what is needed to write results back onto its source grid.

    NIfTI files and DICOM series (volumes.dicom) both arrive as this: a DICOM series as an in-memory
    NIfTI image of its voxels and affine, plus its slice headers for the DICOM SEG written over it.
    """
    data: np.ndarray            # RAS+ voxels, stored dtype (int16, float32, ...), shape (x, y, z)
    spacing: Tuple[float, float, float]   # mm per voxel along the RAS+ axes
    source: nib.Nifti1Image     # the file as read (affine, header, orientation)
    path: str                   # the file; for a DICOM series, the folder of its first slice
    dicom: Optional[tuple] = None   # DICOM series: its slice headers (pydicom Datasets) in slice order
    label: Optional[str] = None     # DICOM series: its name in messages (`volumes.dicom.Series.name`)

    @property
    def name(self) -> str:
        return self.label or os.path.basename(self.path)


def nifti_stem(path: str) -> str:
    """`volume-3` for `.../volume-3.nii.gz`."""
    name = os.path.basename(path)
    for extension in NIFTI_EXTENSIONS:
        if name.lower().endswith(extension):
            return name[:-len(extension)]
    return os.path.splitext(name)[0]


def is_segmentation_file(path: str) -> bool:
    """A LiTS `segmentation-N` / `test-segmentation-N` file or a mask this project wrote (`<name>_segmentation`)."""
    return (any(lits_number(path, kind) is not None for kind in ("segmentation", "test-segmentation"))
            or nifti_stem(path).endswith(SEGMENTATION_SUFFIX))


def lits_number(path: str, kind: str = "volume") -> Optional[str]:
    """'7' for a LiTS `volume-7.nii(.gz)` (kind 'segmentation': `segmentation-7...`), digits as written;
    None for any other file name."""
    match = _LITS_FILES[kind].match(os.path.basename(path))
    return match.group(1) if match else None


def is_nifti(path: str) -> bool:
    return os.path.basename(path).lower().endswith(NIFTI_EXTENSIONS)


@contextlib.contextmanager
def _quiet_nibabel():
    """nibabel logs its own fixes ('setting 0 dims to 1'); we report those once, in our words."""
    logger = logging.getLogger("nibabel.global")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _raw_pixdim(path: str) -> Optional[np.ndarray]:
    """pixdim[1:4] as stored in the file, before nibabel replaces zeros by 1."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = nib.Nifti1Header.from_fileobj(handle, check=False)
    except READ_ERRORS:
        return None
    return np.asarray(header["pixdim"][1:4], dtype=np.float64)


def _reason(err: Exception) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def load_volume(path: str, what: str = "volume") -> Volume:
    """The file's voxels in RAS+ orientation; a UserError names the file when it is unusable.

    Trailing singleton dimensions (x, y, z, 1) are dropped; anything else that is not 3D, an
    unreadable or truncated file, or non-finite spacing is refused. A header without voxel spacing
    gets a warning and 1 mm, since distances in mm then mean voxels.
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise UserError(f"{what} {path} not found")
    try:
        with _quiet_nibabel():
            image = nib.load(path)
            if len(image.shape) > 3:
                image = nib.funcs.squeeze_image(image)
            if len(image.shape) != 3:
                raise UserError(f"{name} has shape {image.shape}; a CT {what} must be 3D")
            data, spacing = canonical_voxels(image)
    except READ_ERRORS as err:
        raise UserError(f"{name} cannot be read (truncated or not NIfTI?): {_reason(err)}") from None
    if data.dtype.kind not in "biuf":   # RGB or complex voxels: nothing to window or label
        raise UserError(f"{name} holds {data.dtype} voxels; a CT {what} holds one real number per voxel")
    raw = _raw_pixdim(path)
    if raw is not None and (not np.all(np.isfinite(raw)) or np.any(raw <= 0)):
        warn(f"{name} has no voxel spacing in its header (pixdim {raw.tolist()}); assuming 1 mm, "
             f"so distances in mm are in voxels")
        spacing = (1.0, 1.0, 1.0)
    return Volume(data, spacing, image, path)


def canonical_voxels(image: nib.spatialimages.SpatialImage) -> Tuple[np.ndarray, Tuple[float, float, float]]:
    """An image's voxels in RAS+ order and their spacing in mm: the one reorientation of every CT source."""
    canonical = nib.as_closest_canonical(image)
    mm_per_unit = _MM_PER_UNIT.get(image.header.get_xyzt_units()[0], 1.0)
    return (np.asanyarray(canonical.dataobj),
            tuple(float(s) * mm_per_unit for s in canonical.header.get_zooms()[:3]))


def to_source_orientation(canonical: np.ndarray, source: nib.Nifti1Image) -> np.ndarray:
    """Undo `as_closest_canonical`: a RAS+ array back into the file's own voxel order."""
    return apply_orientation(canonical, ornt_transform(_CANONICAL, io_orientation(source.affine)))


def to_canonical_orientation(stored: np.ndarray, source: nib.Nifti1Image) -> np.ndarray:
    """`as_closest_canonical` for an array in the file's own voxel order: back to RAS+."""
    return apply_orientation(stored, ornt_transform(io_orientation(source.affine), _CANONICAL))


def save_labels(labels: np.ndarray, volume: Volume, out_path: str) -> str:
    """Write RAS+ labels as uint8 NIfTI on the volume's own grid, affine and header; atomically.

    The CT header's intensity scaling is reset so labels read back as they were written.
    """
    data = np.ascontiguousarray(to_source_orientation(np.asarray(labels, dtype=np.uint8), volume.source))
    header = volume.source.header.copy() if isinstance(volume.source, nib.Nifti1Image) else None
    image = nib.Nifti1Image(data, volume.source.affine, header=header)
    image.set_data_dtype(np.uint8)
    image.header.set_slope_inter(1, 0)
    return write_atomically(out_path, lambda temporary: nib.save(image, temporary))


def check_labels(labels: np.ndarray, name: str, label_count: int = LITS_LABEL_COUNT) -> np.ndarray:
    """uint8 labels 0..label_count-1 (DATASET.CLASSES); a UserError names the file and the values when they are not."""
    labels = np.asarray(labels)
    label_max = label_count - 1
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise UserError(f"{name} holds NaN or infinite labels; a segmentation holds integers 0..{label_max}")
        fractional = labels[labels != np.round(labels)]
        if fractional.size:
            raise UserError(f"{name} holds non-integer labels (e.g. {fractional.flat[0]:g}); "
                            f"a segmentation holds integers 0..{label_max}")
    values = np.unique(labels)
    bad = values[(values < 0) | (values > label_max)]
    if bad.size:
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise UserError(f"{name} holds labels {shown}; DATASET.CLASSES has {label_count} classes (labels 0..{label_max})")
    return labels.astype(np.uint8)


def load_segmentation(path: str, volume: Optional[Volume] = None, label_count: int = LITS_LABEL_COUNT) -> Volume:
    """A segmentation as checked RAS+ uint8 labels; when the CT is given, shapes must agree."""
    segmentation = load_volume(path, "segmentation")
    if volume is not None and segmentation.source.shape[:3] != volume.source.shape[:3]:
        raise UserError(f"{volume.name} / {segmentation.name}: shapes {volume.source.shape} and "
                        f"{segmentation.source.shape} differ")
    if volume is not None:
        axes = [''.join(aff2axcodes(image.affine)) for image in (segmentation.source, volume.source)]
        if axes[0] != axes[1]:   # each is read by its own affine; a segmentation saved over the CT's voxels is not
            warn(f"{segmentation.name} is stored in orientation {axes[0]}, {volume.name} in {axes[1]}: each is "
                 f"read by its own affine, so the labels lie over the CT only if that change is real; "
                 f"check them in the figures of predict.py or verify_data.py")
    if volume is not None:
        check_same_grid(segmentation, volume)
    return segmentation._replace(data=check_labels(segmentation.data, segmentation.name, label_count))


# How far a mask's grid may lie from its CT's and still be the same: float rounding in headers, not a shift.
GRID_TOLERANCE = {"origin": 0.1, "spacing": 1e-3, "direction": 1e-3}   # voxels, relative, cosine


def grid(image: nib.Nifti1Image) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin mm, spacing mm, direction cosines) of the image's voxel grid in RAS+ voxel order,
    the order in which both a CT and its mask are read, whatever their files' orientation."""
    affine = image.affine @ inv_ornt_aff(io_orientation(image.affine), image.shape[:3])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    return affine[:3, 3], spacing, affine[:3, :3] / np.where(spacing > 0, spacing, 1)


def check_same_grid(segmentation: Volume, volume: Volume) -> None:
    """A UserError naming both files when the mask's affine puts its voxels elsewhere than the CT's.

    Shapes can agree while the grids do not (origin shifted, another spacing): labels read from
    such a mask would be trained on or scored against the wrong voxels of the CT.
    """
    (origin, spacing, direction), (ct_origin, ct_spacing, ct_direction) = grid(segmentation.source), grid(volume.source)
    if not np.all(np.isfinite(np.concatenate([origin, spacing, ct_origin, ct_spacing]))):
        return   # no usable affine (load_volume warned about the spacing): nothing to compare
    differences = []
    if np.max(np.abs(origin - ct_origin)) > GRID_TOLERANCE["origin"] * max(float(ct_spacing.min()), 1e-6):
        differences.append(f"origin {_mm(origin)} vs {_mm(ct_origin)} mm")
    if np.max(np.abs(spacing - ct_spacing) / np.where(ct_spacing > 0, ct_spacing, 1)) > GRID_TOLERANCE["spacing"]:
        differences.append(f"spacing {_mm(spacing)} vs {_mm(ct_spacing)} mm")
    if np.max(np.abs(direction - ct_direction)) > GRID_TOLERANCE["direction"]:
        differences.append(f"direction {np.round(direction, 3).tolist()} vs {np.round(ct_direction, 3).tolist()}")
    if differences:
        raise UserError(f"{segmentation.name} does not lie on the grid of {volume.name} ({'; '.join(differences)}): "
                        f"a mask must share its CT's affine (origin, spacing, direction); resample it onto the CT")


def _mm(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:g}" for v in np.round(values, 2)) + ")"


def load_image(paths, what: str = "volume") -> Volume:
    """One input file as `load_volume`, or several (nnU-Net's `_0000`, `_0001` channel files of one case)
    as one Volume whose data is (x, y, z, C); the channels must share one grid, or a UserError names them."""
    if isinstance(paths, str):
        return load_volume(paths, what)
    volumes = [load_volume(path, what) for path in paths]
    first = volumes[0]
    for other in volumes[1:]:
        if other.source.shape[:3] != first.source.shape[:3] or not np.allclose(other.source.affine, first.source.affine,
                                                                                atol=1e-3):
            raise UserError(f"{first.name} / {other.name}: channel files of one case must share one grid "
                            f"(shapes {first.source.shape[:3]} and {other.source.shape[:3]})")
    if len(volumes) == 1:
        return first
    return first._replace(data=np.stack([v.data for v in volumes], axis=-1))


def load_pair(volume_path, segmentation_path: str, label_count: int = LITS_LABEL_COUNT,
              ct_channels: Optional[Sequence[bool]] = None) -> Tuple[Volume, Volume]:
    """A CT (or a case's channel files, `load_image`) and its checked segmentation on one RAS+ grid; a
    UserError says what is wrong with which file. ct_channels: which input files are CTs (HU checked)."""
    volume = load_image(volume_path)
    segmentation = load_segmentation(segmentation_path, volume, label_count)
    check_ct_intensities(volume, ct_channels)
    if segmentation.data.shape != volume.data.shape[:3]:
        raise UserError(f"{volume.name} / {segmentation.name}: their orientations put the voxels on different "
                        f"grids ({volume.data.shape[:3]} vs {segmentation.data.shape})")
    return volume, segmentation


def intensity_problem(data: np.ndarray) -> Optional[str]:
    """Why a CT cannot be windowed meaningfully (NaN/inf voxels, one constant value), or None."""
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        return "holds NaN or infinite values"
    if data.size and data.min() == data.max():
        return f"is constant ({data.flat[0]:g} everywhere)"
    if data.dtype.kind in "biu" and data.size and data.min() >= 0 and data.max() < LITS_LABEL_COUNT:
        return f"holds only the values 0..{data.max()} of a label map: a segmentation, not a CT"
    return None


def check_ct_intensities(volume: Volume, ct_channels: Optional[Sequence[bool]] = None) -> None:
    """Refuse a volume that cannot be normalised (`intensity_problem`); warn when a CT's values do not look like HU.

    A CT in Hounsfield units shows air near -1000 around the body. One without any value below
    AIR_BELOW_HU was most likely stored without its rescale intercept (raw 0..4095 values), or is
    not a CT: the HU window would then pick the wrong tissue, and every prediction would be wrong.
    ct_channels: for each input file (channel) whether it is a CT (default: all are); others (MR) are
    only checked for NaN and constant values.
    """
    channels = [volume.data] if volume.data.ndim == 3 else [volume.data[..., c] for c in range(volume.data.shape[3])]
    ct_channels = list(ct_channels) if ct_channels is not None else [True] * len(channels)
    for number, (data, is_ct) in enumerate(zip(channels, ct_channels)):
        which = volume.name if len(channels) == 1 else f"{volume.name} (channel {number})"
        problem = intensity_problem(data) if is_ct else _non_ct_problem(data)
        if problem:
            raise UserError(f"{which} {problem}")
        lowest = float(data.min())
        if is_ct and lowest > AIR_BELOW_HU:
            warn(f"{which} has no value below {AIR_BELOW_HU:g} (lowest {lowest:g}), but a CT in Hounsfield units "
                 f"shows air near -1000: if its header lacks the rescale slope/intercept, the HU window sees the "
                 f"wrong tissue")


def _non_ct_problem(data: np.ndarray) -> Optional[str]:
    """intensity_problem without the label-map test: an MR may hold small integers."""
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        return "holds NaN or infinite values"
    if data.size and data.min() == data.max():
        return f"is constant ({data.flat[0]:g} everywhere)"
    return None


def find_volume_pairs(directory: str, what: str = "scans directory") -> List[Tuple[int, str, str]]:
    """(volume_id, volume_path, segmentation_path) of every LiTS pair in directory, sorted by id.

    A volume without its segmentation, or a segmentation without its volume, is warned about
    and left out; a volume id present twice (`.nii` and `.nii.gz`) is an error.
    """
    pairs = nifti_pairs(directory, what)
    if not pairs:
        raise UserError(f"{what} holds no volume-N.nii(.gz) + segmentation-N.nii(.gz) pairs: {directory}")
    return pairs


def nifti_pairs(directory: str, what: str = "scans directory") -> List[Tuple[int, str, str]]:
    """find_volume_pairs, but an empty list when there are none (the folder may hold DICOM instead)."""
    if not os.path.isdir(directory):
        raise UserError(f"{what} not found: {directory}")
    volumes, segmentations = _ids(directory, "volume"), _ids(directory, "segmentation")
    for volume_id in sorted(set(segmentations) - set(volumes)):
        warn(f"{os.path.basename(segmentations[volume_id])} has no volume-{volume_id}.nii(.gz) in {directory}; "
             f"skipped")
    for volume_id in sorted(set(volumes) - set(segmentations)):
        warn(f"{os.path.basename(volumes[volume_id])} has no segmentation-{volume_id}.nii(.gz) in {directory}; "
             f"skipped")
    return [(i, volumes[i], segmentations[i]) for i in sorted(set(volumes) & set(segmentations))]


def _ids(directory: str, kind: str) -> dict:
    found = {}
    for name in sorted(os.listdir(directory)):
        number = lits_number(name, kind)
        if number is None:
            continue
        volume_id = int(number)
        if volume_id in found:
            raise UserError(f"{os.path.basename(found[volume_id])} and {name} are both in {directory}; keep one")
        found[volume_id] = os.path.join(directory, name)
    return found


def nifti_files_in(directory: str) -> List[str]:
    """The CT NIfTI files of a directory (not its subfolders), sorted, without the masks beside them."""
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if is_nifti(n) and not n.startswith(".") and not is_segmentation_file(n))


def find_nifti_files(paths) -> List[str]:
    """NIfTI files from a file, a directory or a list of either.

    A directory gives its `*.nii` / `*.nii.gz`, sorted, without the masks in it: the `segmentation-N`
    files that sit beside LiTS volumes, and masks predict.py wrote there before.
    """
    return gather_nifti_files(paths, nifti_files_in, ".nii or .nii.gz files")


def gather_nifti_files(paths, files_in_folder: Callable[[str], List[str]], what: str) -> List[str]:
    """NIfTI files from a file, a folder (its files as `files_in_folder` finds them) or a list of either;
    one line for a folder without any (`what` says what was looked for), a missing or non-NIfTI file."""
    if isinstance(paths, str):
        paths = [paths]
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = files_in_folder(path)
            if not found:
                raise UserError(f"no {what} in {path}")
            files += found
        elif os.path.isfile(path):
            if not is_nifti(path):
                raise UserError(f"{path} is not a NIfTI file (.nii or .nii.gz)")
            files.append(path)
        else:
            raise UserError(f"CT volume {path} not found")
    return files
