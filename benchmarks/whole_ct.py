"""The volume benchmark's measuring (benchmarks/volume_inference.py runs it): a LiTS-size synthetic CT and a
run trained on the phantom, then each setting segmenting the CT in a fresh process (`measure_to_file`, what
that process imports), timed by phase, and the table written. Plain arguments: the settings
benchmarks/volume_inference.py reads from the config (`args`, a namespace).
"""
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

from benchmarks.markdown import replace_section
from runtime.devices import cpu_model_name

PHASE_COLUMNS = ("read", "prepare", "infer", "to_ct_grid", "postprocess", "write")
HEADER = ("| setting | runs as | network passes | CT seconds | speed-up | CPU seconds | speed-up in CPU s | read | "
          "prepare | infer | to CT grid | post-process | write | set-up s | peak RSS GB | load avg | Dice liver | "
          "Dice tumour |")


def model_overrides(args) -> list:
    return [f"MODEL.TYPE={args.model}", f"MODEL.BACKBONE.TYPE={args.backbone}", f"INPUT.HEIGHT={args.input}",
            f"INPUT.WIDTH={args.input}", f"OUTPUT.CLASSES={args.classes}", *args.extra]


def work_config(args, *overrides):
    from app.config import compose_config

    return compose_config([*model_overrides(args), f"RUN_DIR={args.work}/run", "VERBOSE=0", *overrides],
                          work_dir=args.work)


def make_ct(args) -> str:
    """The LiTS-size CT and its segmentation in <work>/ct (volume-0); made once per --work."""
    from data_sets.synthetic.ct import make_synthetic_ct, write_volume

    path = os.path.join(args.work, "ct", "volume-0.nii")
    if not os.path.isfile(path):
        hu, labels = make_synthetic_ct(args.size, args.slices, args.liver_slices, seed=[21, 0])
        write_volume(os.path.dirname(path), 0, hu, labels)
    return path


def training_slices(args, cfg, count: int = 2):
    """(images, one-hot masks) at the network's scale from `count` training scans shaped like the benchmark's CT
    (a 24-slice liver phantom between body-only slices: most slices hold no liver, as in a LiTS scan, so the model
    learns that the spine and the body alone are background); the 3-slice inputs are also written as PNG training
    slices (what int8 calibrates on)."""
    from data_sets.synthetic.ct import make_synthetic_ct
    from data_sets.image_files import write_png
    from data_sets.labels import network_labels
    from volumes.geometry import one_hot
    from volumes.slices import inference_slice_settings, input_slice, label_slice

    settings = inference_slice_settings(cfg)
    images, masks = [], []
    for volume in range(count):
        hu, labels = make_synthetic_ct(args.size, 64, 24, seed=[22, volume])
        for index in range(hu.shape[2]):
            image = input_slice(hu, index, settings)
            images.append(image)
            masks.append(one_hot(network_labels(label_slice(labels, index, settings), args.classes), args.classes))
            if index % 3 == 0:
                write_png(os.path.join(cfg.DATASET.TRAIN.IMAGES_PATH, f"image_{volume}_{index:04d}.png"), image)
    return np.stack(images).astype(np.float32) / 255.0, np.stack(masks)


def random_crops(rng, images, masks, size: int, count: int):
    """`count` size x size crops, half of them centred on foreground."""
    height, width = images.shape[1:3]
    picked_images, picked_masks = [], []
    foreground = np.argwhere(masks[..., 1:].sum(-1) > 0)
    for k in range(count):
        if k % 2 and len(foreground):
            index, y, x = foreground[rng.integers(len(foreground))]
            y, x = np.clip(y - size // 2, 0, height - size), np.clip(x - size // 2, 0, width - size)
        else:
            index, y, x = rng.integers(len(images)), rng.integers(height - size + 1), rng.integers(width - size + 1)
        picked_images.append(images[index, y:y + size, x:x + size])
        picked_masks.append(masks[index, y:y + size, x:x + size])
    return np.stack(picked_images), np.stack(picked_masks)


def make_run(args) -> str:
    """<work>/run: the model's config and weights trained on crops of phantom slices; made once per --work."""
    from omegaconf import open_dict

    from callbacks.checkpoint import checkpoint_path
    from models.model_factory import compile_model, make_targets, model_levels, prepare_model
    from run_dirs.run_dir import close_run, open_run

    cfg = work_config(args)
    weights = checkpoint_path(cfg)
    if os.path.isfile(weights):
        return cfg.RUN_DIR
    images, masks = training_slices(args, cfg)
    crop_cfg = work_config(args, f"INPUT.HEIGHT={args.crop}", f"INPUT.WIDTH={args.crop}",
                           "HYPER_PARAMETERS.LEARNING_RATE=1e-3")
    model = compile_model(prepare_model(crop_cfg), crop_cfg)
    levels = model_levels(crop_cfg)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for step in range(args.train_steps):
        batch_images, batch_masks = random_crops(rng, images, masks, args.crop, 4)
        logs = model.train_on_batch(batch_images, make_targets(args.model, batch_masks, levels), return_dict=True)
        if step % 10 == 0 or step == args.train_steps - 1:
            print(f"training step {step + 1}/{args.train_steps}: loss {float(logs['loss']):.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    with open_dict(cfg):
        cfg.HYPER_PARAMETERS.EPOCHS = 1
    open_run(cfg)
    close_run(cfg)
    os.makedirs(os.path.dirname(weights), exist_ok=True)
    model.save_weights(weights)
    return cfg.RUN_DIR


def calibrate_int8(args) -> float:
    """Seconds to calibrate the run's int8 model (once, as on the training machine); later settings reuse it."""
    from callbacks.checkpoint import checkpoint_path
    from deploy.quantize import calibration_slices
    from deploy.run_int8 import calibrate_int8, stored_int8
    from run_dirs.loading import load_trained
    from app.run_config import run_config
    from volumes.slices import image_settings

    cfg = run_config(work_config(args), overrides=[f"RUN_DIR={args.work}/run"])
    if stored_int8(cfg.EXPORT.PATH, checkpoint_path(cfg)):
        return 0.0
    start = time.perf_counter()
    trained = load_trained(cfg)
    calibrate_int8(trained.model, cfg.EXPORT.PATH, trained.weights_path, calibration_slices(cfg, image_settings(cfg)),
                   trained.rebuild)
    return time.perf_counter() - start


def peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM; getrusage's ru_maxrss keeps the parent's peak across exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2 ** 20
    return float("nan")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all its threads: on shared cores, what a setting costs
    whatever else runs (wall seconds grow with the machine's load, CPU seconds much less)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dice(truth: np.ndarray, prediction: np.ndarray, labels) -> float:
    t, p = np.isin(truth, labels), np.isin(prediction, labels)
    total = t.sum() + p.sum()
    return float("nan") if total == 0 else 2.0 * float(np.logical_and(t, p).sum()) / total


def measure(args) -> dict:
    """One setting, in this (fresh) process: predict.py's CT path, timed; the figures as a dict."""
    import nibabel as nib

    from deploy.backends import inference_backend, inference_settings
    from inference.roi import roi_settings
    from inference.volume import segment_ct_files
    from run_dirs.loading import load_trained
    from app.run_config import run_config
    from volumes.slices import image_settings, inference_slice_settings

    backend, _, roi = args.measure.partition("+")
    overrides = [f"INFERENCE.BACKEND={backend}", f"PREDICTION.ROI={roi == 'roi'}", f"INFERENCE.BATCH_SIZE={args.batch_size}",
                 f"PREDICTION.POSTPROCESS={args.postprocess}", f"PREDICTION.RESULTS_PATH={args.work}/out/{args.measure}"]
    cfg = run_config(work_config(args, *overrides), overrides=[f"RUN_DIR={args.work}/run", *overrides])
    ct = os.path.join(args.work, "ct", "volume-0.nii")
    start = time.perf_counter()
    trained = load_trained(cfg)
    chosen = inference_settings(cfg, trained, image_settings(cfg))
    timings, predicted = {}, []
    with inference_backend(chosen, trained.model) as predict_fn:
        def counted(images):
            predicted.append(len(images))
            return predict_fn(images)

        set_up = time.perf_counter() - start
        cpu_before, load_before = cpu_seconds(), os.getloadavg()[0]
        start = time.perf_counter()
        [written] = segment_ct_files([ct], counted, inference_slice_settings(cfg), args.batch_size,
                                     cfg.PREDICTION.RESULTS_PATH, cfg.PREDICTION.POSTPROCESS, figures=False,
                                     roi=roi_settings(cfg), timings=timings)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_before
        load = (load_before + os.getloadavg()[0]) / 2
    truth = np.asanyarray(nib.load(os.path.join(args.work, "ct", "segmentation-0.nii")).dataobj)
    labels = np.asanyarray(nib.load(written["output"]).dataobj)
    return {"setting": args.measure, "runs_as": f"{chosen.backend}:{chosen.precision}", "seconds": seconds,
            "set_up": set_up, "cpu_seconds": cpu, "load_average": load,
            "phases": timings, "slices_predicted": sum(predicted), "slices": int(truth.shape[2]),
            "peak_rss_gb": peak_rss_gb(),
            "dice_liver": dice(truth, labels, (1, 2)), "dice_tumour": dice(truth, labels, (2,))}


def measure_to_file(settings: dict, json_path: str) -> None:
    """measure() of one setting (settings: plain_settings' values, `measure` naming the setting), to json_path."""
    with open(json_path, "w") as handle:
        json.dump(measure(SimpleNamespace(**settings)), handle)


def run_setting(args, setting: str, json_path: str) -> dict:
    """measure() in a fresh Python: its own TF state, precision policy and peak memory."""
    code = ("import app.tf_env, json, sys; from benchmarks.whole_ct import measure_to_file; "
            "measure_to_file(json.loads(sys.argv[1]), sys.argv[2])")
    command = [sys.executable, "-c", code, json.dumps({**vars(args), "measure": setting}), json_path]
    completed = subprocess.run(command, capture_output=True, text=True)
    print(completed.stdout, end="", flush=True)
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"benchmark of {setting} failed")
    with open(json_path) as handle:
        return json.load(handle)


def table(results: list) -> str:
    baseline, baseline_cpu = results[0]["seconds"], results[0]["cpu_seconds"]
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        phases = " | ".join(f"{r['phases'].get(p, 0.0):.1f}" for p in PHASE_COLUMNS)
        lines.append(f"| {r['setting']} | {r['runs_as']} | {r['slices_predicted']} of {r['slices']} | "
                     f"{r['seconds']:.1f} | {baseline / r['seconds']:.2f}x | {r['cpu_seconds']:.1f} | "
                     f"{baseline_cpu / r['cpu_seconds']:.2f}x | {phases} | {r['set_up']:.1f} | "
                     f"{r['peak_rss_gb']:.2f} | {r['load_average']:.1f} | {r['dice_liver']:.4f} | {r['dice_tumour']:.4f} |")
    return "\n".join(lines)


def run_benchmark(args) -> list:
    """The CT and the run (made once per args.work; a scratch folder when None), then every setting, best of
    args.repeats each; the table rewritten after each result."""
    with tempfile.TemporaryDirectory(prefix="volume-benchmark-") as scratch:
        args.work = os.path.abspath(args.work or scratch)
        start = time.perf_counter()
        ct = make_ct(args)
        make_run(args)
        print(f"CT {ct} and run {args.work}/run ready ({time.perf_counter() - start:.0f} s)", flush=True)
        calibration = calibrate_int8(args)
        best = {}
        for repeat in range(args.repeats):
            for setting in args.settings:
                result = run_setting(args, setting, os.path.join(args.work, f"{setting}.json"))
                print(f"{setting}: {result['seconds']:.1f} s, {result['slices_predicted']} slices", flush=True)
                if setting not in best or result["seconds"] < best[setting]["seconds"]:
                    best[setting] = result
                write_table(args, [best[s] for s in args.settings if s in best], calibration)   # so far
    return [best[setting] for setting in args.settings]


def write_table(args, results: list, calibration: float) -> None:
    body = "\n".join([
        f"{datetime.date.today().isoformat()}, {cpu_model_name()}, {os.cpu_count()} cores; {args.model}/{args.backbone} "
        f"at {args.input}x{args.input}, {args.classes} classes, INFERENCE.BATCH_SIZE={args.batch_size}; one synthetic "
        f"CT of {args.size}x{args.size}x{args.slices} (liver in about {args.liver_slices // 2} slices), model trained "
        f"{args.train_steps} steps on the phantom; best of {args.repeats} run(s) per setting, each in a fresh process; "
        f"int8 calibrated once before ({calibration:.0f} s) and kept in the run.",
        "",
        "Network passes: slices run through the network, a last batch's padding included (a setting whose "
        "model finds the organ nearly everywhere gains nothing from the ROI and pays its extra padding). "
        "CT seconds: `segment_ct_files` from reading the NIfTI to the written mask (predict.py's path without "
        "its figure); phase columns: seconds each phase kept a thread busy (they overlap); set-up: loading the "
        "weights and building the backend (int8: loading the run's calibrated model); CPU seconds: user + system "
        "time of the process while it segmented the CT (on shared cores, less sensitive to other load than wall "
        "seconds); load avg: the machine's 1-minute load average during the run (2 = both cores busy); peak RSS "
        "of the process.",
        "",
        table(results),
    ])
    print(body)
    replace_section(args.out, args.section, body)
    print(f"written: {args.out} (section '{args.section}')", flush=True)

