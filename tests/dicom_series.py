"""Building DICOM CT series for tests from the real CT slice pydicom ships (CT_small.dcm, 128x128)."""
import os

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
PATIENT_NAME = "CompressedSamples^CT1"   # what CT_small.dcm's header says; must never leave the SEG


def ct_small() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def ct_small_hu(slices: int) -> np.ndarray:
    """(rows, columns, slices) HU: the real CT slice, shifted by k pixels in slice k so every slice differs."""
    template = ct_small()
    hu = template.pixel_array.astype(np.int16) * int(template.RescaleSlope) + int(template.RescaleIntercept)
    return np.stack([np.roll(hu, (2 * k, k), axis=(0, 1)) for k in range(slices)], axis=-1).astype(np.int16)


def oblique(degrees: float):
    """ImageOrientationPatient of axial slices tilted by `degrees` about the left-right axis."""
    angle = np.radians(degrees)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(angle)), float(np.sin(angle)))


def write_series(folder, hu=None, slices=5, spacing=2.5, orientation=AXIAL, origin=(-158.1, -179.0, -75.7),
                 series_number=3, skip=(), seed=0, slopes=None, modality="CT", frames=None, transfer_syntax=None,
                 series_uid=None):
    """Write a CT series (CT_small's header, `hu` (rows, cols, slices) or ct_small_hu) into folder.

    Files get random names without extension and are written in random order, with InstanceNumber
    scrambled, so only ImagePositionPatient orders them. Slice k sits at origin + k*spacing along the
    slice normal; indices in `skip` are left out (missing slices). slopes[k] stores slice k with that
    RescaleSlope (the stored values divided by it). Returns (series_uid, datasets in position order).
    """
    rng = np.random.default_rng(seed)
    hu = ct_small_hu(slices) if hu is None else np.asarray(hu)
    series_uid = series_uid or generate_uid()
    orientation = np.asarray(orientation, dtype=np.float64)
    normal = np.cross(orientation[:3], orientation[3:])
    os.makedirs(folder, exist_ok=True)
    written = []
    for k in range(hu.shape[2]):
        if k in skip:
            continue
        ds = ct_small()
        slope = 1.0 if slopes is None else float(slopes[k])
        stored = np.rint((hu[:, :, k].astype(np.float64) - float(ds.RescaleIntercept)) / slope).astype(np.int16)
        ds.Rows, ds.Columns = stored.shape
        ds.PixelData = stored.tobytes()
        ds.RescaleSlope = f"{slope:g}"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = int(rng.integers(1, 1000))
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.ImagePositionPatient = [f"{v:.6f}" for v in np.asarray(origin) + k * spacing * normal]
        ds.Modality = modality
        ds.SliceThickness = ds.SpacingBetweenSlices = f"{spacing:g}"
        if frames:   # an enhanced CT: frame positions in per-frame groups, none at the top level
            ds.NumberOfFrames = frames
            del ds.ImagePositionPatient
        if transfer_syntax:   # the bytes are not really compressed: only the missing decoder is tested
            ds.file_meta.TransferSyntaxUID = transfer_syntax
            ds.PixelData = encapsulate([stored.tobytes()])
            ds["PixelData"].VR = "OB"
        written.append(ds)
    for index in rng.permutation(len(written)):
        written[index].save_as(os.path.join(folder, rng.bytes(6).hex()), enforce_file_format=True)
    return series_uid, written


def dicom_pixels(ras: np.ndarray) -> np.ndarray:
    """(rows, columns, slices) of axial DICOM slices holding an RAS+ volume (x, y, z).

    Axial DICOM columns run to the patient's left and rows to the back: both are RAS's x and y
    reversed, and a row is a line of constant y.
    """
    return np.ascontiguousarray(np.asarray(ras).transpose(1, 0, 2)[::-1, ::-1])


def ras_voxels(pixels: np.ndarray) -> np.ndarray:
    """The inverse of dicom_pixels."""
    return np.ascontiguousarray(np.asarray(pixels)[::-1, ::-1].transpose(1, 0, 2))


def nifti_and_dicom_copies(root, name, hu_ras, spacing=(0.661468, 0.661468, 2.5), labels_ras=None, series_number=3,
                           seed=0):
    """The same RAS+ CT as root/nifti/<name>.nii.gz and as a DICOM series in root/dicom/<name>/ (axial,
    shuffled, no extensions), both placing every voxel at the same point in space; with labels_ras also
    root/nifti/segmentation-<name>.nii.gz. Returns (nifti path, series uid, DICOM datasets in slice order)."""
    import nibabel as nib

    hu_ras = np.asarray(hu_ras)
    origin_lps = np.array([-100.0, -120.0, -60.0])
    uid, datasets = write_series(os.path.join(root, "dicom", name), hu=dicom_pixels(hu_ras), spacing=spacing[2],
                                 series_number=series_number, seed=seed, origin=origin_lps)
    pixel_spacing = [float(v) for v in datasets[0].PixelSpacing]
    affine = np.diag([pixel_spacing[1], pixel_spacing[0], spacing[2], 1.0])
    # DICOM pixel (row 0, column 0) of slice 0 is the RAS+ voxel (x max, y max, 0); it lies at IPP (LPS)
    affine[:3, 3] = [-origin_lps[0], -origin_lps[1], origin_lps[2]] - affine[:3, :3] @ [hu_ras.shape[0] - 1,
                                                                                       hu_ras.shape[1] - 1, 0]
    os.makedirs(os.path.join(root, "nifti"), exist_ok=True)
    path = os.path.join(root, "nifti", f"{name}.nii.gz")
    nib.save(nib.Nifti1Image(hu_ras.astype(np.int16), affine), path)
    if labels_ras is not None:
        nib.save(nib.Nifti1Image(np.asarray(labels_ras, np.uint8), affine),
                 os.path.join(root, "nifti", f"segmentation-{name}.nii.gz"))
    return path, uid, datasets
