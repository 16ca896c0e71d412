"""Figures people look at: image / truth / prediction / overlay rows, training curves, scores per case."""
import sys

import matplotlib

if "ipykernel" not in sys.modules:   # scripts only save files; notebooks keep their inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from utils.files import write_atomically  # noqa: E402
from data_sets.image_files import display_image  # noqa: E402

# Label value -> colour: background black, then LiTS's liver green and tumour red, then matplotlib's
# tab20 for data sets with more classes (256: every 8-bit label has its own entry).
_LABEL_COLOURS = np.concatenate([
    np.array([[0, 0, 0], [0, 200, 0], [230, 0, 0], [0, 0, 230]], dtype=np.uint8),
    (np.array(plt.get_cmap("tab20").colors * 13)[:252, :3] * 255).astype(np.uint8)])


def save_figure(figure, out_path: str) -> str:
    """Save as PNG, whole or not at all (temporary file, then rename); the folder is created if needed."""
    return write_atomically(out_path, lambda temporary: figure.savefig(temporary, dpi=80, format="png"))


def label_palette(class_names=None) -> np.ndarray:
    """Label value -> RGB: the default colours, except that a class named after a colour (red, green,
    blue, yellow, ...: matplotlib's colour names) is drawn in that colour, so a picture reads as its legend."""
    from matplotlib.colors import is_color_like, to_rgb

    palette = _LABEL_COLOURS.copy()
    for label, name in enumerate(class_names or ()):
        if label > 0 and isinstance(name, str) and name.isalpha() and is_color_like(name):
            palette[label] = np.round(np.array(to_rgb(name)) * 255).astype(np.uint8)
    return palette


def colour_labels(mask: np.ndarray, palette: np.ndarray = _LABEL_COLOURS) -> np.ndarray:
    """RGB picture of a label map: label 1 green (LiTS liver), 2 red (tumour), 3 blue, then tab20 colours
    (or `palette`, e.g. `label_palette(class names)`)."""
    mask = np.clip(np.asarray(mask, dtype=np.int64), 0, len(palette) - 1)
    return palette[mask]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.4, center_channel: bool = True,
            palette: np.ndarray = _LABEL_COLOURS) -> np.ndarray:
    """The image (greyscale, or colour when center_channel is False) with the label colours blended on top."""
    shown = display_image(image, center_channel).astype(np.float32)
    if shown.max() <= 1.0:
        shown = shown * 255.0
    rgb = shown if shown.ndim == 3 else np.repeat(shown[..., None], 3, axis=-1)
    colours = colour_labels(mask, palette).astype(np.float32)
    where = (np.asarray(mask) > 0)[..., None]
    blended = np.where(where, (1 - alpha) * rgb + alpha * colours, rgb)
    return blended.clip(0, 255).astype(np.uint8)


def sample_panels(image, truth=None, prediction=None, center_channel=True, palette: np.ndarray = _LABEL_COLOURS):
    """The panels of one figure row, as (title, picture, colormap)."""
    panels = [("image", display_image(image, center_channel), "gray")]
    if truth is not None:
        panels.append(("ground truth", colour_labels(truth, palette), None))
    if prediction is not None:
        panels.append(("prediction", colour_labels(prediction, palette), None))
        panels.append(("overlay", overlay(image, prediction, center_channel=center_channel, palette=palette), None))
    return panels


def add_class_legend(figure, class_names) -> None:
    """A legend of the label colours under the class names (background left out)."""
    from matplotlib.patches import Patch

    palette = label_palette(class_names)
    handles = [Patch(color=palette[label] / 255.0, label=name)
               for label, name in enumerate(class_names) if label > 0]
    if handles:
        figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)


def plot_rows(rows, titles=None, out_path=None, center_channel=True, class_names=None):
    """One row per sample: rows is a list of dicts with 'image' and optional 'truth', 'prediction'.

    Returns the matplotlib figure; also saves it as PNG when out_path is given. With class_names
    (DATASET.CLASSES) a legend names the label colours.
    """
    palette = label_palette(class_names)
    panel_rows = [sample_panels(r["image"], r.get("truth"), r.get("prediction"), center_channel, palette) for r in rows]
    columns = max(len(p) for p in panel_rows)
    figure, axes = plt.subplots(len(panel_rows), columns, figsize=(3 * columns, 3 * len(panel_rows)), squeeze=False)
    for row_index, panels in enumerate(panel_rows):
        for column in range(columns):
            axis = axes[row_index][column]
            axis.axis("off")
            if column >= len(panels):
                continue
            title, picture, cmap = panels[column]
            axis.imshow(picture, cmap=cmap)
            name = titles[row_index] if titles else ""
            axis.set_title(f"{name} {title}".strip(), fontsize=8)
    figure.tight_layout()
    if class_names:
        figure.subplots_adjust(bottom=0.12 / len(panel_rows) + 0.02)
        add_class_legend(figure, class_names)
    if out_path:
        save_figure(figure, out_path)
    return figure


def plot_training_curves(csv_path: str, out_path: str):
    """Loss and Dice per epoch (train and validation) from the CSVLogger file, saved as PNG."""
    import csv

    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    epochs = [int(r["epoch"]) + 1 for r in rows]
    dice_key = next((k for k in rows[0] if k.endswith("dice_coef") and not k.startswith("val_")), None)
    panels = [("loss", "loss")] + ([("Dice", dice_key)] if dice_key else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for axis, (title, key) in zip(axes[0], panels):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            if prefix + key in rows[0]:
                axis.plot(epochs, [float(r[prefix + key]) for r in rows], style, label=(prefix + key).rstrip("_"))
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure(figure, out_path)
    plt.close(figure)
    return out_path


def _radiological(plane: np.ndarray) -> np.ndarray:
    """An RAS+ plane (first axis x, second y or z) as radiologists view it: up is anterior/head, patient's right on the left."""
    return np.flipud(plane.T)[:, ::-1]


def volume_view_rows(ct: np.ndarray, prediction: np.ndarray, truth: np.ndarray = None, display=None):
    """Axial and coronal planes through the middle of the predicted (else true) organ, RAS+ arrays in.

    `display` turns a CT plane into a uint8 picture (e.g. the HU window), applied to the two
    planes only so a 500-slice CT is never converted whole.

    Returns [(plane name, index, {'image', 'prediction', 'truth'})], ready for `plot_volume_views`.
    """
    focus = prediction if prediction.any() or truth is None else truth
    voxels = np.argwhere(focus > 0)
    centre = voxels.mean(axis=0).round().astype(int) if len(voxels) else np.array(ct.shape) // 2
    axial = int(np.argmax((focus > 0).sum(axis=(0, 1)))) if len(voxels) else int(centre[2])
    planes = [("axial", axial, lambda v: v[:, :, axial]), ("coronal", int(centre[1]), lambda v: v[:, int(centre[1]), :])]
    rows = []
    for name, index, take in planes:
        image = take(ct) if display is None else display(take(ct))
        row = {"image": _radiological(image), "prediction": _radiological(take(prediction))}
        if truth is not None:
            row["truth"] = _radiological(take(truth))
        rows.append((name, index, row))
    return rows


def plot_volume_views(ct: np.ndarray, prediction: np.ndarray, truth: np.ndarray = None, spacing=(1.0, 1.0, 1.0),
                      title: str = "", out_path: str = None, display=None, image_name: str = "CT"):
    """Axial and coronal views of a CT (RAS+; `display` windows it) with truth and prediction overlays.

    Coronal planes are drawn with the true slice thickness (aspect from the voxel spacing); image_name
    heads the image's column (an MR's channel shows as `image`).
    """
    rows = volume_view_rows(ct, prediction, truth, display)
    columns = [image_name] + (["ground truth"] if truth is not None else []) + ["prediction"]
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(3.2 * len(columns), 6.4), squeeze=False)
    aspects = {"axial": spacing[1] / spacing[0], "coronal": spacing[2] / spacing[0]}
    for row_index, (plane, index, row) in enumerate(rows):
        pictures = [(row["image"], "gray")]
        if truth is not None:
            pictures.append((overlay(row["image"], row["truth"]), None))
        pictures.append((overlay(row["image"], row["prediction"]), None))
        for column, (picture, cmap) in enumerate(pictures):
            axis = axes[row_index][column]
            axis.imshow(picture, cmap=cmap, aspect=aspects[plane])
            axis.set_title(f"{plane} {index}: {columns[column]}", fontsize=8)
            axis.axis("off")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    if out_path:
        save_figure(figure, out_path)
    return figure


# (title, column pattern) of each plot_case_scores panel: volumes (LiTS measures), pictures (data=images)
VOLUME_PANELS = (("Dice (on each CT's grid)", "dice_{}"), ("HD95 (mm)", "hd95_{}_mm"))
IMAGE_PANELS = (("Dice (each image at its own size)", "dice_{}"), ("IoU", "iou_{}"))
MAX_NAMED_CASES = 150   # more cases than this: bars without names under them


def plot_case_scores(rows, out_path: str = None, panels=VOLUME_PANELS, case_key: str = "volume"):
    """Two scores of every case as bars, per region, with the per-case mean as a dashed line.

    `rows` are summary.csv's case rows (`volume`, `dice_<region>`, `hd95_<region>_mm`; or with
    IMAGE_PANELS and case_key 'image', `dice_<region>` and `iou_<region>`); a missed region's HD95
    is the volume's diagonal (evaluation.metrics), so its bar stands out; a bar is missing only
    where a value is NaN.
    """
    regions = [key[len("dice_"):] for key in rows[0] if key.startswith("dice_")]
    names = [str(row[case_key]) for row in rows]
    width = 0.8 / len(regions)
    # at most 40 inches wide: a folder of thousands of images gets thin bars, not a figure miles long
    figure, axes = plt.subplots(2, 1, figsize=(min(40.0, max(6.0, 0.3 * len(rows) * len(regions) + 2)), 6.5),
                                squeeze=False)
    for axis, (title, key) in zip(axes[:, 0], panels):
        for n, region in enumerate(regions):
            values = np.array([float(row.get(key.format(region), np.nan)) for row in rows])
            colour = _LABEL_COLOURS[n + 1] / 255.0
            mean = np.nanmean(values) if np.isfinite(values).any() else None
            axis.bar(np.arange(len(rows)) + (n - (len(regions) - 1) / 2) * width, np.nan_to_num(values, nan=0.0),
                     width, color=colour, label=region if mean is None else f"{region} (mean {mean:.3g})")
            if mean is not None:
                axis.axhline(mean, color=colour, linestyle="--", linewidth=1)
        axis.set_title(title, fontsize=9)
        if len(rows) <= MAX_NAMED_CASES:
            axis.set_xticks(np.arange(len(rows)), names, rotation=90 if len(rows) > 12 else 0, fontsize=7)
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=7)
    axes[0, 0].set_ylim(0, 1)
    axes[1, 0].set_xlabel(f"{case_key} (dashed: mean over cases)")
    figure.tight_layout()
    if out_path:
        save_figure(figure, out_path)
    return figure
