"""Small synthetic CT volumes in the LiTS layout: the phantom behind the demo, the tests and the benchmarks.

Writes volume-N.nii + segmentation-N.nii pairs like the LiTS release: float32 Hounsfield units, uint8
labels (0 background, 1 liver, 2 tumour), slices along the last axis. Each volume is a phantom: air
outside a soft-tissue body ellipse, a spine, a brighter ellipsoid liver with 1-3 darker tumours inside
it, Gaussian noise. The liver sits in the middle ~70% of the slices, so the top and bottom slices hold
no liver. Volume N is drawn from (seed, N): the same seed gives the same volumes, and adding volumes
leaves the others unchanged. data_preparation/make_synthetic_data.py writes them where the config reads.
"""
import os
from typing import Iterable, List, Tuple

import nibabel as nib
import numpy as np

from utils.files import write_atomically

SPACING_MM = (0.8, 0.8, 2.5)
AIR_HU, BODY_HU, SPINE_HU = -1000.0, 0.0, 400.0
NOISE_HU = 10.0
MIN_SIZE, MIN_SLICES = 16, 8   # below this the liver's core may hold no voxel to seed a tumour


def _ellipsoid_radius(grid, centre, semi_axes):
    """Normalised radius of every voxel: < 1 inside the ellipsoid, 0 at its centre."""
    return np.sqrt(sum(((g - c) / s) ** 2 for g, c, s in zip(grid, centre, semi_axes)))


def _liver_geometry(rng, size, slices):
    """Random liver centre and semi-axes (voxels): on the image's left, inside the body, clear of the
    spine, and off the end slices (it spans at most the middle 70%)."""
    centre = (size * rng.uniform(0.42, 0.5), size * rng.uniform(0.34, 0.42), slices * rng.uniform(0.45, 0.55))
    semi_axes = (size * rng.uniform(0.18, 0.24), size * rng.uniform(0.16, 0.22), slices * rng.uniform(0.22, 0.3))
    return centre, semi_axes


def _tumours(rng, liver_coords, liver_radius):
    """1-3 balls in the liver's normalised coordinates, centred on a voxel of its inner half.

    Centre radius <= 0.5 and ball radius <= 0.35 keep each tumour strictly inside the liver.
    """
    core = np.argwhere(liver_radius <= 0.5)
    tumour = np.zeros(liver_radius.shape, dtype=bool)
    for _ in range(rng.integers(1, 4)):
        seed_voxel = tuple(core[rng.integers(len(core))])
        centre = [coords[seed_voxel] for coords in liver_coords]
        distance = np.sqrt(sum((coords - c) ** 2 for coords, c in zip(liver_coords, centre)))
        tumour |= distance <= rng.uniform(0.15, 0.35)
    return tumour


def _body_and_spine(grid_xy, size):
    """Boolean masks of the body ellipse (wider than deep) and the spine, on an (x, y, ...) grid."""
    body = _ellipsoid_radius(grid_xy, (size / 2, size / 2), (0.38 * size, 0.46 * size)) < 1
    spine = _ellipsoid_radius(grid_xy, (0.8 * size, size / 2), (0.06 * size, 0.06 * size)) < 1
    return body, spine


def make_synthetic_ct(size: int, slices: int, liver_slices: int, seed=0):
    """(HU, labels) of a taller scan: a phantom of liver_slices slices between body-only slices (chest above,
    pelvis below, no liver), `slices` in all, like a chest-abdomen-pelvis CT whose liver spans a third of it.
    Builds the 3D phantom only for its own slices, so a 512x512x300 CT fits in a few GB."""
    if not MIN_SLICES <= liver_slices <= slices:
        raise ValueError(f"liver_slices must be {MIN_SLICES}..{slices}, got {liver_slices}")
    hu, labels = make_synthetic_volume(size, liver_slices, seed)
    rng = np.random.default_rng([*np.atleast_1d(seed), liver_slices])
    below = (slices - liver_slices) // 2
    grid_xy = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    body, spine = _body_and_spine(grid_xy, size)
    template = np.where(spine, SPINE_HU, np.where(body, BODY_HU, AIR_HU)).astype(np.float32)
    full_hu = np.empty((size, size, slices), dtype=np.float32)
    full_labels = np.zeros((size, size, slices), dtype=np.uint8)
    for index in [*range(below), *range(below + liver_slices, slices)]:
        full_hu[:, :, index] = template + rng.normal(0.0, NOISE_HU, size=template.shape).astype(np.float32)
    full_hu[:, :, below:below + liver_slices] = hu
    full_labels[:, :, below:below + liver_slices] = labels
    return full_hu, full_labels


def make_synthetic_volume(size: int = 64, slices: int = 16, seed=0):
    """(HU float32, labels uint8) arrays of shape (size, size, slices).

    seed is an int or a list of ints (NumPy's SeedSequence); the same seed gives the same volume.
    """
    if size < MIN_SIZE or slices < MIN_SLICES:
        raise ValueError(f"a phantom needs size >= {MIN_SIZE} and slices >= {MIN_SLICES}, got {size}x{size}x{slices}")
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, np.arange(slices) + 0.5, indexing="ij")
    body, spine = _body_and_spine(grid[:2], size)
    centre, semi_axes = _liver_geometry(rng, size, slices)
    liver_coords = [(g - c) / s for g, c, s in zip(grid, centre, semi_axes)]
    liver_radius = np.sqrt(sum(c ** 2 for c in liver_coords))
    liver = liver_radius < 1
    tumour = _tumours(rng, liver_coords, liver_radius)

    hu = np.full(liver.shape, AIR_HU, dtype=np.float32)
    hu[body] = BODY_HU
    hu[spine] = SPINE_HU
    hu[liver] = rng.uniform(60.0, 120.0)
    hu[tumour] = rng.uniform(10.0, 30.0)
    hu += rng.normal(0.0, NOISE_HU, size=hu.shape).astype(np.float32)
    labels = liver.astype(np.uint8) + tumour.astype(np.uint8)
    return hu, labels


def _affine() -> np.ndarray:
    return np.diag([*SPACING_MM, 1.0])


def volume_paths(directory: str, volume_id: int, compress: bool = False) -> Tuple[str, str]:
    """The volume-N / segmentation-N file pair write_volume writes."""
    extension = ".nii.gz" if compress else ".nii"
    return (os.path.join(directory, f"volume-{volume_id}{extension}"),
            os.path.join(directory, f"segmentation-{volume_id}{extension}"))


def save_nifti(image: nib.Nifti1Image, path: str) -> str:
    """nib.save, atomically (a killed run leaves no half-written volume)."""
    return write_atomically(path, lambda temporary: nib.save(image, temporary))


def write_volume(directory: str, volume_id: int, hu: np.ndarray, labels: np.ndarray, compress: bool = False):
    """Save one volume-N / segmentation-N pair; returns the two paths."""
    paths = volume_paths(directory, volume_id, compress)
    save_nifti(nib.Nifti1Image(hu.astype(np.float32), _affine()), paths[0])
    save_nifti(nib.Nifti1Image(labels.astype(np.uint8), _affine()), paths[1])
    return paths


def split_paths(directory: str, ids: Iterable[int], compress: bool = False) -> List[str]:
    """Every file write_split writes."""
    return [path for volume_id in ids for path in volume_paths(directory, volume_id, compress)]


def write_split(directory: str, ids: Iterable[int], size: int, slices: int, seed: int = 0,
                compress: bool = False) -> List[str]:
    """Volumes `ids` (volume N drawn from (seed, N)) into directory; returns the paths written."""
    written = []
    for volume_id in ids:
        hu, labels = make_synthetic_volume(size, slices, seed=[seed, volume_id])
        written += write_volume(directory, volume_id, hu, labels, compress)
    return written


def make_synthetic_splits(out_dir: str, train: int = 3, val: int = 2, size: int = 64, slices: int = 16,
                          seed: int = 0, compress: bool = False) -> str:
    """Write out_dir/train (ids 0..train-1) and out_dir/val (ids train..train+val-1); returns out_dir."""
    write_split(os.path.join(out_dir, "train"), range(train), size, slices, seed, compress)
    write_split(os.path.join(out_dir, "val"), range(train, train + val), size, slices, seed, compress)
    return out_dir
