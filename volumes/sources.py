"""Where a CT comes from: a NIfTI file or a DICOM series. The one place that tells the two apart.

Scripts and the inference / evaluation / preparation code find, name and load CTs through these
functions and then handle one `volumes.nifti.Volume`, whatever the source: a path string stands for
a NIfTI file, a `volumes.dicom.Series` for a DICOM series. Folders are searched for NIfTI files
(the folder itself) and DICOM series (recursively, as scanners and PACS export them).
"""
import os
from typing import List, Optional, Sequence, Tuple, Union

from utils.errors import UserError
from volumes import dicom, nifti
from volumes.dicom import Series
from volumes.nifti import Volume

Source = Union[str, Tuple[str, ...], Series]   # a NIfTI file path, a case's NIfTI channel files (nnU-Net's
                                               # _0000, _0001...), or a DICOM series found on disk


def is_dicom(source: Source) -> bool:
    return isinstance(source, Series)


def is_channel_files(source: Source) -> bool:
    """A case's channel files (a plain tuple of paths; a DICOM Series is a NamedTuple, so asked first)."""
    return isinstance(source, tuple) and not is_dicom(source)


def input_files(source: Source) -> int:
    """How many input files (channels) a source is: a case's channel files, else 1."""
    return len(source) if is_channel_files(source) else 1


def source_files(source: Source) -> List[str]:
    """Every file a source is read from: a NIfTI file, a case's channel files, a DICOM series' files."""
    if is_dicom(source):
        return list(source.files)
    return list(source) if is_channel_files(source) else [source]


def source_name(source: Source) -> str:
    """How a CT is named in messages, figures and tables: the NIfTI file name, or the series' name
    (SeriesNumber and a pseudonym, never a header value that could identify the patient)."""
    if is_channel_files(source):
        return os.path.basename(source[0])
    return source.name if is_dicom(source) else os.path.basename(source)


def find_ct_sources(paths) -> List[Source]:
    """The CTs in a file, a folder or a list of either: NIfTI files, then DICOM CT series.

    A folder gives its own NIfTI files (not the masks beside them) and every DICOM CT series below
    it; DICOM files given one by one are grouped into series. Non-CT series get a warning each.
    """
    if isinstance(paths, str):
        paths = [paths]
    files, dicom_files = [], []
    for path in paths:
        if os.path.isdir(path):
            found = nifti.nifti_files_in(path)
            series = dicom.find_series([path])
            if not found and not series:
                raise UserError(f"no CT in {path}: no .nii or .nii.gz files and no DICOM CT series")
            files += found + series
        elif os.path.isfile(path):
            if nifti.is_nifti(path):
                files.append(path)
            elif dicom.is_dicom_candidate(path):
                dicom_files.append(path)
            else:
                raise UserError(f"{path} is neither a NIfTI file (.nii, .nii.gz) nor a DICOM file")
        else:
            raise UserError(f"CT volume {path} not found")
    if dicom_files:
        series = dicom.find_series(dicom_files)
        if not series:
            raise UserError(f"no DICOM CT series in the {len(dicom_files)} DICOM file(s) given")
        files += series
    return files


def find_volume_pairs(directory: str, what: str = "scans directory") -> List[Tuple[int, Source, str]]:
    """(volume_id, CT, reference segmentation) of every pair in directory, sorted by id.

    NIfTI: LiTS's volume-N + segmentation-N (id N). DICOM: a CT series and the DICOM SEG that
    references it (id: the series' pseudonym). Unpaired ones are warned about and left out.
    """
    pairs = nifti.nifti_pairs(directory, what) + dicom.series_pairs(directory)
    if not pairs:
        raise UserError(f"{what} holds no volume-N.nii(.gz) + segmentation-N.nii(.gz) pairs and no DICOM CT series "
                        f"with a DICOM SEG: {directory}")
    ids = [pair[0] for pair in pairs]
    clash = sorted({i for i in ids if ids.count(i) > 1})
    if clash:
        raise UserError(f"{what}: volume id {clash[0]} is both a NIfTI volume and a DICOM series' pseudonym in "
                        f"{directory}; rename volume-{clash[0]}")
    return sorted(pairs, key=lambda pair: pair[0])


def load_ct(source: Source) -> Volume:
    """The CT as RAS+ voxels (`volumes.nifti.load_image` (channel files stacked) or `volumes.dicom.load_series`)."""
    return dicom.load_series(source) if is_dicom(source) else nifti.load_image(source)


def load_pair(volume_source: Source, segmentation_path: str, label_count: int = nifti.LITS_LABEL_COUNT,
              class_names: Optional[Sequence[str]] = None,
              ct_channels: Optional[Sequence[bool]] = None) -> Tuple[Volume, Volume]:
    """A CT and its checked reference labels on one RAS+ grid; a UserError says what is wrong with which.

    A NIfTI mask holds label values 0..label_count-1; a DICOM SEG's segments are placed by class_names
    (DATASET.CLASSES, label value = index), which a DICOM pair needs. ct_channels: which input files are
    CTs (their HU are checked; DATASET.CHANNEL_NAMES), default all.
    """
    if not is_dicom(volume_source):
        return nifti.load_pair(volume_source, segmentation_path, label_count, ct_channels)
    if class_names is None:
        raise ValueError("class_names are needed to read a DICOM SEG reference")
    volume = dicom.load_series(volume_source)
    nifti.check_ct_intensities(volume)
    labels = dicom.read_seg_labels(segmentation_path, volume, class_names)
    name = f"{os.path.basename(segmentation_path)} ({volume.name})"
    return volume, volume._replace(data=labels, path=segmentation_path, dicom=None, label=name)
