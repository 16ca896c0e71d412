"""data=nnunet and data=kits19: their files, class names, folds, normalisation and output names (issue 16)."""
import json
import os

import nibabel as nib
import numpy as np
import pytest

from data_generators.folds import fold_split
from data_sets.synthetic.layouts import KITS_AXES, make_kits19, make_nnunet, stored
from data_sets import kits19, nnunet
from data_sets.kinds import apply_description, check_description, class_setup, dataset_kind, prepared_splits
from tests.helpers import tiny_config
from utils.errors import UserError
from data_sets.slice_names import parse_slice_name, slice_file_name
from volumes.nifti import load_image, load_volume, save_labels
from volumes.slices import (CT, ZSCORE, SliceSettings, channel_normalisation, check_channel_names, input_slice,
                            network_volume, slice_settings)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A 2-channel (CT + T2) nnU-Net data set of 6 cases, region label organ = [1, 2], 2 test cases."""
    return make_nnunet(str(tmp_path_factory.mktemp("nnunet") / "Dataset501_Phantom"), cases=6, test=2, size=32,
                       slices=8)


def write_json(path, payload):
    with open(path, "w") as handle:
        json.dump(payload, handle) if not isinstance(payload, str) else handle.write(payload)


def test_dataset_json_gives_classes_regions_and_channels(dataset):
    description = nnunet.read_description(dataset)
    assert description.classes == ["background", "organ", "lesion"]   # value 1 named by regions_class_order
    assert description.regions == [{"organ": [1, 2]}, {"lesion": [2]}]
    assert description.channel_names == ["CT", "T2"] and description.file_ending == ".nii.gz"


def test_plain_labels_are_the_classes_in_value_order_without_regions():
    classes, regions = nnunet.parse_labels({"background": 0, "tumour": 2, "liver": 1}, "dataset.json")
    assert classes == ["background", "liver", "tumour"] and regions == []


def test_a_region_value_without_a_name_or_class_order_is_named_by_its_value():
    classes, regions = nnunet.parse_labels({"background": 0, "whole": [1, 2], "core": 2}, "dataset.json")
    assert classes == ["background", "label_1", "core"] and regions == [{"whole": [1, 2]}, {"core": [2]}]


@pytest.mark.parametrize("payload,message", [
    (None, "dataset.json not found: an nnU-Net data set folder holds dataset.json, imagesTr and labelsTr"),
    ("{not json", "dataset.json cannot be read as JSON"),
    ({"channel_names": {"0": "CT"}, "file_ending": ".nii.gz"}, "dataset.json has no 'labels'"),
    ({"labels": {"background": 0, "a": 1}, "file_ending": ".nii.gz"}, "dataset.json has no 'channel_names'"),
    ({"labels": {"background": 1, "a": 0}, "channel_names": {"0": "CT"}, "file_ending": ".nii.gz"},
     "dataset.json: labels.background must be 0, got 1"),
    ({"labels": {"background": 0, "a": 2}, "channel_names": {"0": "CT"}, "file_ending": ".nii.gz"},
     "dataset.json: label values must run 0, 1, 2, ... without gaps"),
    ({"labels": {"background": 0, "a": "one"}, "channel_names": {"0": "CT"}, "file_ending": ".nii.gz"},
     "dataset.json: labels.a must be a label value"),
    ({"labels": {"0": "background", "1": "liver"}, "channel_names": {"0": "CT"}, "file_ending": ".nii.gz"},
     "dataset.json: 'labels' maps values to names"),
    ({"labels": {"background": 0, "a": 1}, "channel_names": {"1": "CT"}, "file_ending": ".nii.gz"},
     "dataset.json: 'channel_names' must map \"0\", \"1\", ..."),
    ({"labels": {"background": 0, "a": 1}, "channel_names": {"0": "CT"}, "file_ending": ".png"},
     "dataset.json: file_ending '.png' is not read here"),
    ({"labels": {"background": 0, "a": [1, 2], "b": 2}, "regions_class_order": [1], "channel_names": {"0": "CT"},
      "file_ending": ".nii.gz"}, "dataset.json: regions_class_order must list one label value per region (a, b)"),
])
def test_a_missing_or_malformed_dataset_json_is_one_line_naming_the_key(tmp_path, payload, message):
    if payload is not None:
        write_json(tmp_path / "dataset.json", payload)
    with pytest.raises(UserError) as raised:
        nnunet.read_description(str(tmp_path))
    assert str(raised.value).startswith(f"{tmp_path}/{message}" if "not found" not in message
                                        else f"{tmp_path / 'dataset.json'} not found")


def test_cases_pair_their_channel_files_and_label(dataset):
    cases = nnunet.labelled_cases(dataset)
    assert [case[0] for case in cases] == [f"phantom_{n:03d}" for n in range(6)]
    case, channels, label = cases[2]
    assert [os.path.basename(p) for p in channels] == ["phantom_002_0000.nii.gz", "phantom_002_0001.nii.gz"]
    assert os.path.basename(label) == "phantom_002.nii.gz"


def test_a_case_without_its_label_or_a_channel_is_skipped_with_one_line(tmp_path, capsys):
    root = make_nnunet(str(tmp_path / "Dataset502_Gaps"), cases=3, test=0, size=16, slices=8)
    os.remove(os.path.join(root, "labelsTr", "phantom_001.nii.gz"))
    os.remove(os.path.join(root, "imagesTr", "phantom_002_0001.nii.gz"))
    assert [case[0] for case in nnunet.labelled_cases(root)] == ["phantom_000"]
    err = capsys.readouterr().err
    assert f"warning: case phantom_001 has no label phantom_001.nii.gz in {root}/labelsTr; skipped" in err
    assert "warning: case phantom_002 lacks phantom_002_0001.nii.gz" in err


def test_an_empty_images_folder_is_one_line(tmp_path):
    root = make_nnunet(str(tmp_path / "Dataset503_Empty"), cases=1, test=0, size=16, slices=8)
    for name in os.listdir(os.path.join(root, "imagesTr")):
        os.remove(os.path.join(root, "imagesTr", name))
    with pytest.raises(UserError, match=r"imagesTr holds no <case>_0000\.nii\.gz files"):
        nnunet.labelled_cases(root)


def test_folds_are_nnunets_seeded_kfold_over_sorted_cases():
    """sklearn's KFold(5, shuffle=True, random_state=12345), as nnU-Net's generate_crossval_split calls it:
    RandomState(12345) shuffles 0..n-1, folds are consecutive runs of the shuffled order, the first n % k longer."""
    cases = [f"phantom_{n:03d}" for n in range(6)]
    folds = nnunet.nnunet_folds(list(reversed(cases)), 5)   # the order given does not matter: sorted first
    order = np.arange(6)
    np.random.RandomState(12345).shuffle(order)
    assert folds == [{cases[order[0]], cases[order[1]]}, *({cases[i]} for i in order[2:])]
    assert folds == [{"phantom_003", "phantom_005"}, {"phantom_004"}, {"phantom_000"}, {"phantom_001"},
                     {"phantom_002"}]   # pinned: a change of the split would move cases between folds


def test_fold_split_of_named_case_slices_follows_the_kinds_split():
    images = [slice_file_name("image", f"phantom_{n:03d}", k) for n in range(6) for k in range(2)]
    masks = [name.replace("image", "mask") for name in images]
    cfg = tiny_config("/tmp", "data=nnunet")
    split = dataset_kind(cfg).case_split
    val, _ = fold_split(images, masks, 0, 5, held_out=True, case_split=lambda *a: split(cfg, *a))
    train, _ = fold_split(images, masks, 0, 5, held_out=False, case_split=lambda *a: split(cfg, *a))
    assert {parse_slice_name(p).volume for p in val} == {"phantom_003", "phantom_005"}
    assert len(train) == 8 and not set(train) & set(val)


def test_splits_final_json_sets_the_folds_and_the_validation_cases(tmp_path):
    root = make_nnunet(str(tmp_path / "Dataset504_Split"), cases=4, test=0, size=16, slices=8, splits=True)
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={root}", "DATASET.FOLD=1")
    apply_description(cfg, set())
    assert cfg.DATASET.NUM_FOLDS == 2 and cfg.DATASET.CLASSES == ["background", "organ", "lesion"]
    assert [case[0] for case in nnunet.split_pairs(cfg, "val")] == ["phantom_001", "phantom_003"]
    assert len(nnunet.split_pairs(cfg, "train")) == 4   # all prepared; training holds out the fold's slices
    assert prepared_splits(cfg) == ("train",)


def test_a_splits_file_naming_an_unknown_case_or_contradicting_num_folds_is_one_line(tmp_path):
    root = make_nnunet(str(tmp_path / "Dataset505_Split"), cases=4, test=0, size=16, slices=8, splits=True)
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={root}", "DATASET.NUM_FOLDS=5")
    with pytest.raises(UserError, match=r"DATASET.NUM_FOLDS=5 on the command line contradicts the data set's own "
                                        r"description \(2\)"):
        apply_description(cfg, {"DATASET.NUM_FOLDS"})
    write_json(os.path.join(root, "splits_final.json"), [{"train": ["phantom_000"], "val": ["nobody_007"]}])
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={root}", "DATASET.NUM_FOLDS=1")
    with pytest.raises(UserError, match=r"splits_final.json: fold 0 lists case\(s\) nobody_007 that are not among"):
        nnunet.split_cases(cfg, ["phantom_000", "phantom_001"], 0, 1)


def test_a_class_list_that_disagrees_with_dataset_json_is_one_line(dataset, tmp_path):
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={dataset}")
    with pytest.raises(UserError, match=r"DATASET.CLASSES=\['a', 'b'\] on the command line contradicts"):
        cfg.DATASET.CLASSES = ["a", "b"]
        apply_description(cfg, {"DATASET.CLASSES"})
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={dataset}",
                      "DATASET.CLASSES=[background,liver,tumour]", "DATASET.CHANNEL_NAMES=[CT,T2]",
                      "DATA_PREPARATION.SLICES_PER_IMAGE=1")
    with pytest.raises(UserError) as raised:
        check_description(cfg, "runs/r1")
    assert str(raised.value) == (f"run runs/r1 was trained with DATASET.CLASSES=['background', 'liver', 'tumour'], "
                                 f"but the data set in {dataset} describes ['background', 'organ', 'lesion']: "
                                 f"evaluate a run trained on it")


def test_described_classes_make_the_scoring_regions(dataset, tmp_path):
    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={dataset}")
    apply_description(cfg, set())
    setup = class_setup(cfg)
    assert setup.names == ("background", "organ", "lesion") and setup.classes == 3
    assert setup.regions == {"organ": (1, 2), "lesion": (2,)}
    assert cfg.DATA_PREPARATION.SLICES_PER_IMAGE == 1 and cfg.INPUT.CHANNELS == 3
    assert slice_settings(cfg).normalisation == (CT, ZSCORE) and slice_settings(cfg).channels == 3


def test_channel_names_choose_the_normalisation_as_nnunet_does():
    assert [channel_normalisation(n) for n in ("CT", "ct", "MR", "T2", "ADC", "noNorm")] == [CT, CT] + [ZSCORE] * 4
    with pytest.raises(UserError, match=r"DATASET.CHANNEL_NAMES lists 4 channels \(T1, T2, FLAIR, CT\); the network "
                                        r"takes at most 3"):
        check_channel_names(["T1", "T2", "FLAIR", "CT"], 1)
    with pytest.raises(UserError, match=r"2 input channels \(CT, T2\) are the input's channels, one slice each: set "
                                        r"DATA_PREPARATION.SLICES_PER_IMAGE=1"):
        check_channel_names(["CT", "T2"], 3)


def test_z_score_maps_three_sd_onto_0_255_and_two_channels_get_a_zero_third():
    rng = np.random.default_rng(0)
    ct = rng.normal(40.0, 100.0, (16, 16, 4)).astype(np.float32)
    mr = rng.normal(500.0, 80.0, (16, 16, 4)).astype(np.float32)
    settings = SliceSettings(-200.0, 250.0, None, 1, 3, normalisation=(CT, ZSCORE))
    data = network_volume(np.stack([ct, mr], axis=-1), settings)
    z = (mr - mr.mean()) / mr.std()
    np.testing.assert_allclose(data[..., 1], z, atol=1e-4)
    np.testing.assert_array_equal(data[..., 0], ct)                  # HU kept as read
    image = input_slice(data, 2, settings)
    assert image.shape == (16, 16, 3) and not image[..., 2].any()
    expected = np.rint((np.clip(z[:, :, 2], -3, 3) + 3) * 255 / 6).astype(np.uint8)
    assert np.abs(image[..., 1].astype(int) - expected).max() <= 1
    assert np.array_equal(image[..., 0], np.rint((np.clip(ct[:, :, 2], -200, 250) + 200) * 255 / 450).astype(np.uint8))
    single = SliceSettings(-200.0, 250.0, None, 3, 3)                # LiTS: untouched, the same array back
    assert network_volume(ct, single) is ct


def test_an_image_and_label_of_different_shapes_is_one_line(dataset, tmp_path):
    label = nib.load(os.path.join(dataset, "labelsTr", "phantom_000.nii.gz"))
    small = nib.Nifti1Image(np.asarray(label.dataobj)[:-2], label.affine)
    nib.save(small, tmp_path / "phantom_000.nii.gz")
    from volumes.sources import load_pair
    with pytest.raises(UserError, match=r"phantom_000_0000.nii.gz / phantom_000.nii.gz: shapes"):
        load_pair(tuple(nnunet.labelled_cases(dataset)[0][1]), str(tmp_path / "phantom_000.nii.gz"), 3)


def test_a_label_value_beyond_the_classes_names_the_file_and_the_value(dataset, tmp_path):
    label = nib.load(os.path.join(dataset, "labelsTr", "phantom_000.nii.gz"))
    data = np.asarray(label.dataobj).copy()
    data[0, 0, 0] = 3
    nib.save(nib.Nifti1Image(data, label.affine), tmp_path / "phantom_000.nii.gz")
    from volumes.sources import load_pair
    with pytest.raises(UserError, match=r"phantom_000.nii.gz holds labels 3; DATASET.CLASSES has 3 classes"):
        load_pair(tuple(nnunet.labelled_cases(dataset)[0][1]), str(tmp_path / "phantom_000.nii.gz"), 3)


def test_channel_files_of_one_case_load_as_channels_of_one_volume(dataset):
    channels = nnunet.labelled_cases(dataset)[0][1]
    volume = load_image(channels)
    assert volume.data.shape == (32, 32, 8, 2)
    np.testing.assert_array_equal(volume.data[..., 0], load_volume(channels[0]).data)


def test_predictions_are_named_as_nnunet_names_them(dataset):
    cases = nnunet.prediction_inputs(os.path.join(dataset, "imagesTs"))
    assert [nnunet.output_name(case) for case in cases] == ["phantom_006.nii.gz", "phantom_007.nii.gz"]
    assert all(len(case) == 2 for case in cases)
    one = nnunet.prediction_inputs(os.path.join(dataset, "imagesTs", "phantom_007_0000.nii.gz"))
    assert one == [cases[1]]   # a _0000 file brings its case's other channel


def test_a_gap_in_a_cases_channel_files_is_one_line(tmp_path):
    for name in ("a_0000.nii.gz", "a_0002.nii.gz"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(UserError, match=r"case a in .* has channel files _0000, _0002; they must run _0000, _0001"):
        nnunet.prediction_inputs(str(tmp_path))


def test_kits19_cases_are_read_in_ras_from_their_z_first_files(tmp_path, capsys):
    root = make_kits19(str(tmp_path / "data"), cases=2, test=1, size=16, slices=8)
    cases = kits19.labelled_cases(root)
    assert [case[0] for case in cases] == ["case_00000", "case_00001"]
    assert "1 case folder(s) without segmentation.nii.gz (test cases) left out" in capsys.readouterr().out
    image = nib.load(cases[0][1])
    assert image.shape == (8, 16, 16) and nib.aff2axcodes(image.affine) == KITS_AXES   # slices first, as KiTS19
    volume = load_volume(cases[0][1])
    assert volume.data.shape == (16, 16, 8)   # RAS+: axial slices along the last axis
    assert volume.spacing == pytest.approx((0.8, 0.8, 2.5))
    labels = (volume.data > 50).astype(np.uint8)
    written = nib.load(save_labels(labels, volume, str(tmp_path / "prediction_00000.nii.gz")))
    assert written.shape == image.shape and np.allclose(written.affine, image.affine)
    assert np.array_equal(np.asarray(written.dataobj), (np.asarray(image.dataobj) > 50).astype(np.uint8))


def test_a_kits_like_affine_keeps_its_voxels_in_world_space():
    """The same RAS+ phantom stored z-first reads back voxel for voxel (nibabel's canonical orientation)."""
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    image = stored(data, KITS_AXES, np.float32)
    assert image.shape == (6, 5, 4)
    assert np.array_equal(np.asarray(nib.as_closest_canonical(image).dataobj), data)


def test_kits19_predictions_are_named_as_its_submission_rules_ask(tmp_path):
    root = make_kits19(str(tmp_path / "data"), cases=1, test=1, size=16, slices=8)
    files = kits19.prediction_inputs(root)
    assert [kits19.output_name(f) for f in files] == ["prediction_00000.nii.gz", "prediction_00001.nii.gz"]
    assert kits19.prediction_inputs(os.path.join(root, "case_00001")) == [files[1]]


def test_kits19_has_its_classes_regions_window_and_folds(tmp_path):
    cfg = tiny_config(tmp_path, "data=kits19")
    setup = class_setup(cfg)
    assert setup.names == ("background", "kidney", "tumour") and setup.regions == {"kidney": (1, 2), "tumour": (2,)}
    assert setup.lesion_region == "tumour" and dataset_kind(cfg).nested_labels
    assert (cfg.DATA_PREPARATION.HU_WINDOW.MIN, cfg.DATA_PREPARATION.HU_WINDOW.MAX) == (-79, 304)
    assert (cfg.DATASET.NUM_FOLDS, cfg.DATASET.FOLD) == (5, 0)


def test_named_case_slices_round_trip_through_their_file_names():
    assert parse_slice_name("image_case_00012_0042.png") == ("image", "case_00012", 42)
    assert parse_slice_name(slice_file_name("mask", "liver_001", 7)) == ("mask", "liver_001", 7)


def test_an_unset_or_missing_dataset_path_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"DATA_PREPARATION.DATASET_PATH is not set: give the data set's folder"):
        nnunet.split_pairs(tiny_config(tmp_path, "data=nnunet"), "val")
    with pytest.raises(UserError, match=r"DATA_PREPARATION.DATASET_PATH not found: /nowhere"):
        kits19.split_pairs(tiny_config(tmp_path, "data=kits19", "DATA_PREPARATION.DATASET_PATH=/nowhere"), "val")
    with pytest.raises(UserError, match=r"data=nnunet validates on a fold of its training cases"):
        nnunet.fold_pairs(tiny_config(tmp_path, "data=nnunet", "DATASET.NUM_FOLDS=1"), [], "val")


def test_predictions_never_replace_nnunets_reference_labels(dataset):
    from inference.volume import check_inputs_kept

    cases = nnunet.prediction_inputs(os.path.join(dataset, "imagesTs"))
    with pytest.raises(UserError, match=r"PREDICTION.RESULTS_PATH=.*/labelsTr is an nnU-Net labels folder: the masks "
                                        r"would replace its reference segmentations"):
        check_inputs_kept(cases, os.path.join(dataset, "labelsTr"), nnunet.output_name)
    check_inputs_kept(cases, os.path.join(dataset, "predictions"), nnunet.output_name)   # elsewhere: fine


def test_the_prepared_slices_manifest_records_the_data_set(dataset, tmp_path):
    from data_sets.manifest import recipe

    cfg = tiny_config(tmp_path, "data=nnunet", f"DATA_PREPARATION.DATASET_PATH={dataset}")
    apply_description(cfg, set())
    recorded = recipe(cfg)
    assert recorded["DATASET.KIND"] == "nnunet" and recorded["DATASET.CLASSES"] == ["background", "organ", "lesion"]
    assert recorded["DATASET.REGIONS"] == [{"organ": [1, 2]}, {"lesion": [2]}]
    assert recorded["DATASET.CHANNEL_NAMES"] == ["CT", "T2"] and recorded["DATASET.LESION_REGION"] is None
    assert recorded["DATA_PREPARATION.DATASET_PATH"] == dataset and recorded["DATASET.NUM_FOLDS"] == 5
    assert recorded["DATA_PREPARATION.SLICES_PER_IMAGE"] == 1 and recorded["INPUT.CHANNELS"] == 3
