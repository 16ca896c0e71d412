"""DICOM CT series in, DICOM SEG out: series built from the real CT slice pydicom ships (CT_small.dcm)."""
import os

import highdicom as hd
import numpy as np
import pytest
from pydicom.uid import JPEGLosslessSV1

from tests.dicom_series import (AXIAL, PATIENT_NAME, ct_small_hu, dicom_pixels, nifti_and_dicom_copies, oblique,
                                ras_voxels, write_series)
from utils.errors import UserError
from volumes.dicom import load_series, pseudonym, read_seg_labels, save_seg
from volumes.sources import find_ct_sources, find_volume_pairs, load_ct, load_pair, source_name

CLASSES = ("background", "liver", "tumour")
SPACING = 0.661468   # CT_small's PixelSpacing


def warnings_in(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]


def world(volume, voxel):
    """RAS mm of a voxel index of the volume's source grid (column, row, slice for DICOM)."""
    return (volume.source.affine @ [*voxel, 1.0])[:3]


def test_a_shuffled_series_without_extensions_is_read_in_position_order(tmp_path):
    uid, datasets = write_series(tmp_path / "ct", slices=6, spacing=2.5, series_number=7)
    assert all("." not in name for name in os.listdir(tmp_path / "ct"))
    [series] = find_ct_sources(str(tmp_path / "ct"))
    assert series.name == f"series7-{pseudonym(uid)}" and source_name(series) == series.name
    volume = load_ct(series)
    # axial slices: DICOM columns run to the patient's left, rows to the back; RAS+ x to the right, y to the front
    np.testing.assert_array_equal(volume.data, ras_voxels(ct_small_hu(6)))
    assert volume.data.dtype == np.int16
    assert volume.spacing == pytest.approx((SPACING, SPACING, 2.5))
    for k, ds in enumerate(datasets):   # voxel (0, 0, k) of the source grid is slice k's first pixel
        lps = np.asarray(ds.ImagePositionPatient, dtype=float)
        np.testing.assert_allclose(world(volume, (0, 0, k)), [-lps[0], -lps[1], lps[2]], atol=1e-4)
    assert [str(ds.SOPInstanceUID) for ds in volume.dicom] == [str(ds.SOPInstanceUID) for ds in datasets]


def test_each_slice_gets_its_own_rescale_slope_and_intercept(tmp_path):
    hu = ct_small_hu(4) // 2 * 2                        # even HU: exact with slope 2
    write_series(tmp_path / "ct", hu=hu, slopes=[1, 2, 1, 2])
    np.testing.assert_array_equal(load_ct(find_ct_sources(str(tmp_path / "ct"))[0]).data, ras_voxels(hu))


def test_two_series_in_one_folder_are_two_volumes(tmp_path):
    first_uid, _ = write_series(tmp_path / "study", slices=4, series_number=2, seed=1)
    second_uid, _ = write_series(tmp_path / "study" / "sub", slices=3, series_number=5, seed=2)
    series = find_ct_sources(str(tmp_path / "study"))
    assert [s.uid for s in series] == [first_uid, second_uid]
    assert [load_ct(s).data.shape for s in series] == [(128, 128, 4), (128, 128, 3)]


def test_an_oblique_series_is_placed_by_its_orientation(tmp_path):
    hu = ct_small_hu(5)
    _, datasets = write_series(tmp_path / "ct", hu=hu, orientation=oblique(30), spacing=3.0)
    volume = load_ct(find_ct_sources(str(tmp_path / "ct"))[0])
    assert volume.spacing == pytest.approx((SPACING, SPACING, 3.0), rel=1e-5)
    row, column = np.array(oblique(30)[:3]), np.array(oblique(30)[3:])
    for k in (0, 4):   # pixel (row 10, column 20) of slice k, where DICOM puts it
        lps = np.asarray(datasets[k].ImagePositionPatient, dtype=float) + SPACING * (20 * row + 10 * column)
        np.testing.assert_allclose(world(volume, (20, 10, k)), [-lps[0], -lps[1], lps[2]], atol=1e-3)
    assert sorted(volume.data.ravel().tolist()) == sorted(hu.ravel().tolist())


@pytest.mark.parametrize("kwargs, message", [
    ({"skip": (2,)}, r"slice gaps range from 2\.5 to 5 mm: about 1 slice\(s\) missing"),
    ({"frames": 2}, "multi-frame"),
    ({"orientation": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0), "slices": 1, "series_number": 1}, None),
])
def test_bad_series_are_refused_in_one_line_naming_the_series(tmp_path, kwargs, message):
    uid, _ = write_series(tmp_path / "ct", **kwargs)
    [series] = find_ct_sources(str(tmp_path / "ct"))
    if message is None:   # a single coronal slice is a volume too (spacing from SliceThickness)
        assert load_ct(series).data.shape == (128, 1, 128)
        return
    with pytest.raises(UserError, match=f"^series3-{pseudonym(uid)}: .*{message}") as error:
        load_ct(series)
    assert "\n" not in str(error.value) and PATIENT_NAME not in str(error.value)


def test_slices_of_two_acquisitions_in_one_series_are_refused(tmp_path):
    uid, _ = write_series(tmp_path / "ct", slices=3, seed=1)
    write_series(tmp_path / "ct", slices=3, seed=2, series_uid=uid)   # same positions again
    with pytest.raises(UserError, match=r"6 slices at only 3 positions \(more than one acquisition"):
        load_ct(find_ct_sources(str(tmp_path / "ct"))[0])
    write_series(tmp_path / "mixed", slices=3, seed=1, series_uid=uid)
    write_series(tmp_path / "mixed", slices=2, seed=2, series_uid=uid, orientation=oblique(20))
    with pytest.raises(UserError, match="different orientations"):
        load_ct(find_ct_sources(str(tmp_path / "mixed"))[0])


def test_a_compressed_series_without_a_decoder_is_one_line(tmp_path):
    from pydicom.pixels import get_decoder

    if get_decoder(JPEGLosslessSV1).is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    write_series(tmp_path / "ct", slices=2, transfer_syntax=JPEGLosslessSV1)
    with pytest.raises(UserError, match=r"compressed as JPEG Lossless.*which no installed decoder reads \(install "):
        load_ct(find_ct_sources(str(tmp_path / "ct"))[0])


def test_non_ct_series_and_other_files_get_one_warning_each(tmp_path, capsys):
    write_series(tmp_path / "study", slices=2, modality="MR", series_number=4, seed=1)
    uid, _ = write_series(tmp_path / "study", slices=2, series_number=6, seed=2)
    (tmp_path / "study" / "notes.txt").write_text("not an image")
    (tmp_path / "study" / "broken.dcm").write_bytes(b"\0" * 10)
    [series] = find_ct_sources(str(tmp_path / "study"))
    assert series.uid == uid
    warnings = warnings_in(capsys)
    assert len(warnings) == 2
    assert warnings[0] == f"warning: {tmp_path}/study/broken.dcm has no SeriesInstanceUID (not a DICOM image?); skipped"
    assert warnings[1].startswith("warning: series4-") and warnings[1].endswith(": modality MR, not CT; skipped")
    write_series(tmp_path / "mr_only", slices=2, modality="MR")
    with pytest.raises(UserError, match=f"^no CT in {tmp_path}/mr_only: no .nii or .nii.gz files and no DICOM CT"):
        find_ct_sources(str(tmp_path / "mr_only"))


def phantom_labels(volume):
    """Labels 0/1/2 on a volume's RAS+ grid from its HU (some of each class in most slices)."""
    return ((volume.data > -100).astype(np.uint8) + (volume.data > 200)).astype(np.uint8)


@pytest.mark.parametrize("orientation", [AXIAL, oblique(30)], ids=["axial", "oblique"])
def test_a_seg_reads_back_as_the_same_labels_on_the_series_grid(tmp_path, orientation):
    uid, datasets = write_series(tmp_path / "ct", slices=5, orientation=orientation)
    volume = load_ct(find_ct_sources(str(tmp_path / "ct"))[0])
    labels = phantom_labels(volume)
    labels[:, :, 2] = 0                                   # an empty slice: its frames are left out
    path = save_seg(labels, volume, str(tmp_path / "out" / "seg.dcm"), CLASSES)
    seg = hd.seg.segread(path)                            # read independently, as a viewer would
    assert [(s.SegmentNumber, s.SegmentLabel) for s in seg.SegmentSequence] == [(1, "liver"), (2, "tumour")]
    assert [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence] == ["10200004",
                                                                                              "108369006"]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    assert (seg.StudyInstanceUID, seg.PatientID, seg.FrameOfReferenceUID) == (
        datasets[0].StudyInstanceUID, datasets[0].PatientID, datasets[0].FrameOfReferenceUID)
    frames = seg.get_pixels_by_source_instance([ds.SOPInstanceUID for ds in datasets], combine_segments=True,
                                               assert_missing_frames_are_empty=True)
    if orientation == AXIAL:    # frame k is slice k's rows and columns
        np.testing.assert_array_equal(frames.transpose(1, 2, 0), dicom_pixels(labels))
    np.testing.assert_array_equal(read_seg_labels(path, volume, CLASSES), labels)


def test_segments_take_the_class_names_and_a_generic_code_when_none_is_known(tmp_path):
    write_series(tmp_path / "ct", slices=2)
    volume = load_ct(find_ct_sources(str(tmp_path / "ct"))[0])
    labels = phantom_labels(volume)
    path = save_seg(labels, volume, str(tmp_path / "seg.dcm"), ("background", "Kidney", "cyst"))
    segments = hd.seg.segread(path).SegmentSequence
    assert [(s.SegmentLabel, s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning) for s in segments] == [
        ("Kidney", "Kidney"), ("cyst", "Tissue")]
    # a reference SEG is matched by label or by code: 'liver' by name, a 'Neoplasm'-coded segment as tumour
    np.testing.assert_array_equal(read_seg_labels(path, volume, ("background", "kidney", "cyst")), labels)


def test_a_folder_of_series_and_segs_gives_pairs_and_warns_about_the_rest(tmp_path, capsys):
    uid, _ = write_series(tmp_path / "data" / "a", slices=4, series_number=2, seed=1)
    lonely, _ = write_series(tmp_path / "data" / "b", slices=3, series_number=8, seed=2)
    [series, other] = find_ct_sources(str(tmp_path / "data"))
    volume = load_series(series)
    labels = phantom_labels(volume)
    save_seg(labels, volume, str(tmp_path / "data" / "reference"), CLASSES)
    capsys.readouterr()
    [(volume_id, found, seg_path)] = find_volume_pairs(str(tmp_path / "data"))
    assert (volume_id, found.uid, seg_path) == (pseudonym(uid), uid, str(tmp_path / "data" / "reference"))
    assert warnings_in(capsys) == [f"warning: series8-{pseudonym(lonely)} has no DICOM SEG referencing it in "
                                   f"{tmp_path}/data; skipped"]
    ct, reference = load_pair(found, seg_path, class_names=CLASSES)
    np.testing.assert_array_equal(ct.data, volume.data)
    np.testing.assert_array_equal(reference.data, labels)
    assert reference.name == f"reference (series2-{pseudonym(uid)})"
    with pytest.raises(UserError, match="no segment matches the classes"):
        load_pair(found, seg_path, class_names=("background", "spleen"))


def test_nifti_and_dicom_copies_place_every_voxel_alike(tmp_path):
    import nibabel as nib

    hu = ras_voxels(ct_small_hu(4))
    path, _, _ = nifti_and_dicom_copies(str(tmp_path), "ct", hu)
    from_dicom = load_ct(find_ct_sources(str(tmp_path / "dicom" / "ct"))[0])
    from_nifti = load_ct(path)
    np.testing.assert_array_equal(from_dicom.data, from_nifti.data)
    np.testing.assert_allclose(nib.as_closest_canonical(from_dicom.source).affine, nib.load(path).affine, atol=1e-4)


# --- end to end: predict.py, evaluate.py, preprocess_data.py ---------------------------------------

def phantom(volume_id, size=80, slices=16):
    """A synthetic CT (what the tiny test model learnt) with whole HU, and its labels."""
    from data_sets.synthetic.ct import make_synthetic_volume

    hu, labels = make_synthetic_volume(size, slices, seed=[0, volume_id])
    return np.round(hu).astype(np.int16), labels


def read_seg_frames(path, datasets):
    """A SEG read as a viewer would (highdicom), as RAS+ labels of the series it lies over."""
    seg = hd.seg.segread(path)
    frames = seg.get_pixels_by_source_instance([ds.SOPInstanceUID for ds in datasets], combine_segments=True,
                                               assert_missing_frames_are_empty=True)
    return seg, ras_voxels(frames.transpose(1, 2, 0))


def contains(path, text):
    with open(path, "rb") as handle:
        return text.encode() in handle.read()


def error_lines(result) -> list:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.slow
def test_a_dicom_series_gets_the_same_prediction_as_its_nifti_copy_as_a_seg(trained, tmp_path):
    import nibabel as nib

    from tests.helpers import run_main, trained_run_args

    hu, truth = phantom(3)
    nifti_phantom, phantom_uid, phantom_slices = nifti_and_dicom_copies(str(tmp_path), "phantom", hu, seed=1)
    [series] = find_ct_sources(str(tmp_path / "dicom" / "phantom"))   # its reference SEG beside it: shown as truth
    save_seg(truth, load_series(series), str(tmp_path / "dicom" / "phantom" / "reference.dcm"), CLASSES)
    nifti_real, real_uid, real_slices = nifti_and_dicom_copies(str(tmp_path), "real", ras_voxels(ct_small_hu(6)),
                                                               series_number=4, seed=2)
    write_series(tmp_path / "dicom" / "gappy", slices=4, skip=(1,), series_number=9)
    cfg = trained[0]
    volumes = f"PREDICTION.VOLUMES=[{tmp_path / 'nifti'},{tmp_path / 'dicom'}]"
    result = run_main("predict.py", *trained_run_args(cfg, volumes, f"PREDICTION.RESULTS_PATH={tmp_path / 'out'}"))
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped: series9-")
    assert "slice gaps range from" in warnings[0]
    outputs = sorted(name for name in os.listdir(tmp_path / "out") if name.endswith((".nii.gz", ".dcm")))
    assert outputs == sorted(["phantom_segmentation.nii.gz", "real_segmentation.nii.gz",
                              f"series3-{pseudonym(phantom_uid)}_segmentation.dcm",
                              f"series4-{pseudonym(real_uid)}_segmentation.dcm"])
    for nifti_path, uid, slices in ((nifti_phantom, phantom_uid, phantom_slices), (nifti_real, real_uid, real_slices)):
        stem = os.path.basename(nifti_path)[:-len(".nii.gz")]
        from_nifti = np.asanyarray(nib.load(str(tmp_path / "out" / f"{stem}_segmentation.nii.gz")).dataobj)
        seg_path = str(tmp_path / "out" / f"series{slices[0].SeriesNumber}-{pseudonym(uid)}_segmentation.dcm")
        seg, from_dicom = read_seg_frames(seg_path, slices)
        np.testing.assert_array_equal(from_dicom, from_nifti)       # voxel for voxel
        assert [s.SegmentLabel for s in seg.SegmentSequence] == list(cfg.DATASET.CLASSES)[1:cfg.OUTPUT.CLASSES]
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
        assert os.path.isfile(seg_path[:-len(".dcm")] + ".png")
    assert np.isin(read_seg_frames(str(tmp_path / "out" / f"series3-{pseudonym(phantom_uid)}_segmentation.dcm"),
                                   phantom_slices)[1], (1, 2)).sum() > 100      # the phantom's liver was found
    assert PATIENT_NAME not in result.stdout + result.stderr     # privacy: nothing from the headers in the log
    for name in os.listdir(tmp_path / "out"):
        assert PATIENT_NAME.split("^")[0] not in name
        if not name.endswith(".dcm"):
            assert not contains(str(tmp_path / "out" / name), PATIENT_NAME)
    # NIfTI on request, on the series' grid; a DICOM SEG for a NIfTI input is one line before any work
    both = run_main("predict.py", *trained_run_args(cfg, f"PREDICTION.VOLUMES={tmp_path / 'dicom' / 'phantom'}",
                                                    "PREDICTION.OUTPUT_FORMAT=both",
                                                    f"PREDICTION.RESULTS_PATH={tmp_path / 'both'}"))
    assert both.returncode == 0, both.stderr[-2000:]
    stem = f"series3-{pseudonym(phantom_uid)}_segmentation"
    assert sorted(os.listdir(tmp_path / "both")) == [f"{stem}.dcm", f"{stem}.nii.gz", f"{stem}.png"]
    written_nifti = nib.as_closest_canonical(nib.load(str(tmp_path / "both" / f"{stem}.nii.gz")))   # slices' order
    np.testing.assert_allclose(written_nifti.affine, nib.load(nifti_phantom).affine, atol=1e-4)
    np.testing.assert_array_equal(np.asanyarray(written_nifti.dataobj),
                                  np.asanyarray(nib.load(str(tmp_path / "out" / "phantom_segmentation.nii.gz")).dataobj))
    refused = run_main("predict.py", *trained_run_args(cfg, f"PREDICTION.VOLUMES={nifti_phantom}",
                                                       "PREDICTION.OUTPUT_FORMAT=dicom_seg",
                                                       f"PREDICTION.RESULTS_PATH={tmp_path / 'refused'}"))
    assert refused.returncode == 2 and error_lines(refused) == [
        f"error: PREDICTION.OUTPUT_FORMAT=dicom_seg writes a DICOM SEG, which needs a DICOM series to lie over, but "
        f"{nifti_phantom} is NIfTI; use nifti or auto"], refused.stderr[-2000:]
    assert not os.path.exists(tmp_path / "refused")   # refused before any work


@pytest.fixture(scope="module")
def dicom_and_nifti_scans(tmp_path_factory):
    """Two phantoms as LiTS NIfTI pairs (root/nifti) and as DICOM series with a reference SEG each (root/dicom)."""
    from data_sets.synthetic.ct import write_volume

    root = tmp_path_factory.mktemp("scans")
    uids = []
    for volume_id in (3, 4):
        hu, labels = phantom(volume_id)
        write_volume(str(root / "nifti"), volume_id, hu, labels)
        _, uid, _ = nifti_and_dicom_copies(str(root / "copies"), f"v{volume_id}", hu, seed=volume_id,
                                           series_number=volume_id)
        series = [s for s in find_ct_sources(str(root / "copies" / "dicom")) if s.uid == uid][0]
        volume = load_series(series)
        save_seg(labels, volume, str(root / "copies" / "dicom" / f"v{volume_id}" / "reference.dcm"), CLASSES)
        uids.append(uid)
    return root / "nifti", root / "copies" / "dicom", uids


@pytest.mark.slow
def test_preparation_makes_the_same_slices_from_dicom_series_and_segs(tmp_path, dicom_and_nifti_scans):
    from data_sets.preparation import prepare_dataset
    from tests.helpers import tiny_config
    from data_sets.image_files import read_mask

    nifti_dir, dicom_dir, uids = dicom_and_nifti_scans
    prepared = {}
    for kind, scans in (("nifti", nifti_dir), ("dicom", dicom_dir)):
        cfg = tiny_config(tmp_path / kind, f"DATA_PREPARATION.SCANS_TRAIN_DATA_PATH={scans}",
                          f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={scans}")
        prepare_dataset(cfg)
        masks = cfg.DATASET.TRAIN.MASK_PATH
        prepared[kind] = {name: read_mask(os.path.join(masks, name)) for name in sorted(os.listdir(masks))}
    ids = {"3": str(pseudonym(uids[0])), "4": str(pseudonym(uids[1]))}
    renamed = {f"mask_{ids[n.split('_')[1]]}_{n.split('_')[2]}": mask for n, mask in prepared["nifti"].items()}
    assert sorted(renamed) == sorted(prepared["dicom"]) and len(renamed) > 10
    for name, mask in renamed.items():
        np.testing.assert_array_equal(prepared["dicom"][name], mask)


@pytest.mark.slow
def test_evaluation_scores_dicom_series_against_their_segs_as_their_nifti_copies(trained, dicom_and_nifti_scans):
    import csv

    from tests.helpers import run_main, trained_run_args

    nifti_dir, dicom_dir, uids = dicom_and_nifti_scans
    scores = {}
    for kind, scans in (("nifti", nifti_dir), ("dicom", dicom_dir)):
        results = trained[0].EVALUATION.RESULTS_PATH + f"_{kind}"
        result = run_main("evaluate.py", *trained_run_args(trained[0], f"DATA_PREPARATION.SCANS_VAL_DATA_PATH={scans}",
                                                           f"EVALUATION.RESULTS_PATH={results}"))
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"summary (every column): {results}/summary.csv\n" in result.stdout
        with open(os.path.join(results, "summary.csv")) as handle:
            scores[kind] = list(csv.DictReader(handle))
        assert not contains(os.path.join(results, "summary.csv"), PATIENT_NAME)
    assert [row["volume"] for row in scores["dicom"]] == [str(pseudonym(uid)) for uid in sorted(uids, key=pseudonym)] + [
        "mean", "global"]
    by_id = dict(zip((str(pseudonym(uid)) for uid in uids), ("3", "4")))
    nifti_rows = {row["volume"]: row for row in scores["nifti"]}
    for row in scores["dicom"][:2]:
        expected = nifti_rows[by_id[row["volume"]]]
        for column in ("dice_liver", "dice_tumour", "slice_grid_dice_liver"):
            assert float(row[column]) == pytest.approx(float(expected[column]), abs=1e-9)
    assert float(scores["dicom"][0]["dice_liver"]) > 0.5


def test_output_format_and_names_are_checked_before_any_work(tmp_path):
    from inference.volume import check_output_format, check_output_names

    write_series(tmp_path / "study" / "ct", slices=2)
    found = find_ct_sources([str(tmp_path / "study"), str(tmp_path / "study" / "ct")])
    with pytest.raises(UserError, match="^PREDICTION.OUTPUT_FORMAT must be one of auto, nifti, dicom_seg, both; "
                                        "got 'seg'$"):
        check_output_format("seg", found)
    check_output_format("dicom_seg", found)
    with pytest.raises(UserError, match=f"^{found[0].name} and {found[0].name} would both be written as "
                                        f"{found[0].name}_segmentation.nii.gz"):
        check_output_names(found)


def test_a_seg_is_paired_by_the_slices_its_frames_name_when_it_lists_no_series(tmp_path, capsys):
    import pydicom

    uid, _ = write_series(tmp_path / "data" / "ct", slices=3, series_number=2)
    volume = load_ct(find_ct_sources(str(tmp_path / "data"))[0])
    path = save_seg(phantom_labels(volume), volume, str(tmp_path / "seg.dcm"), CLASSES)
    seg = pydicom.dcmread(path)
    del seg.ReferencedSeriesSequence                     # some writers give only the per-frame source slices
    seg.save_as(str(tmp_path / "data" / "no_series_list.dcm"))
    other = pydicom.dcmread(path)
    other.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.4"   # a series not in the folder, by every reference
    del other.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    for frame in other.PerFrameFunctionalGroupsSequence:
        frame.pop("DerivationImageSequence", None)
    other.save_as(str(tmp_path / "data" / "elsewhere.dcm"))
    capsys.readouterr()
    [(volume_id, series, seg_path)] = find_volume_pairs(str(tmp_path / "data"))
    assert (volume_id, series.uid, seg_path) == (pseudonym(uid), uid, str(tmp_path / "data" / "no_series_list.dcm"))
    assert warnings_in(capsys) == [f"warning: {tmp_path}/data/elsewhere.dcm references no CT series in "
                                   f"{tmp_path}/data; skipped"]


@pytest.mark.slow
def test_predict_py_turns_a_dicom_folder_into_a_seg_and_refuses_a_bad_format_in_one_line(trained, tmp_path, capfd,
                                                                                          recwarn):
    from tests.helpers import run_main

    hu, _ = phantom(4)
    _, uid, slices = nifti_and_dicom_copies(str(tmp_path), "ct", hu, seed=5)
    args = [f"RUN_DIR={trained[0].RUN_DIR}", f"WORK_DIR={tmp_path}", f"PREDICTION.VOLUMES={tmp_path}/dicom",
            f"PREDICTION.RESULTS_PATH={tmp_path}/out"]
    capfd.readouterr()
    completed = run_main("predict.py", *args)   # in a fresh Python: test_cli_errors.py's first predict.py case
    written = capfd.readouterr()   # what libraries write to the process's own stdout and stderr
    assert completed.returncode == 0, completed.stderr
    seg_path = str(tmp_path / "out" / f"series3-{pseudonym(uid)}_segmentation.dcm")
    seg, labels = read_seg_frames(seg_path, slices)
    assert labels.shape == hu.shape and np.isin(labels, (1, 2)).any()
    assert PATIENT_NAME not in completed.stdout + completed.stderr + written.out + written.err
    assert not [w for w in recwarn if PATIENT_NAME in str(w.message)]   # a warning Python would have printed
    refused = run_main("predict.py", *args, "PREDICTION.OUTPUT_FORMAT=seg")
    assert refused.returncode == 2
    assert [line for line in refused.stderr.splitlines() if line.startswith("error:")] == [
        "error: PREDICTION.OUTPUT_FORMAT must be one of auto, nifti, dicom_seg, both; got 'seg'"]


def test_predict_shows_the_seg_found_with_a_series_as_its_truth(tmp_path, capsys):
    from inference.volume import reference_labels

    write_series(tmp_path / "data" / "a", slices=3, series_number=2, seed=1)
    write_series(tmp_path / "data" / "b", slices=3, series_number=5, seed=2)
    first, _ = find_ct_sources(str(tmp_path / "data"))
    volume = load_ct(first)
    labels = phantom_labels(volume)
    save_seg(labels, volume, str(tmp_path / "data" / "a" / "reference.dcm"), CLASSES)
    with_seg, without = find_ct_sources(str(tmp_path / "data"))
    assert (with_seg.reference, without.reference) == (str(tmp_path / "data" / "a" / "reference.dcm"), None)
    np.testing.assert_array_equal(reference_labels(with_seg, volume, CLASSES, 3), labels)
    assert reference_labels(without, load_ct(without), CLASSES, 3) is None
    assert reference_labels(with_seg, volume, ("background", "spleen"), 2) is None
    assert warnings_in(capsys)[-1].startswith("warning: not shown as ground truth: reference.dcm (series2-")
