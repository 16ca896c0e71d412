"""Data-set kinds and class names: DATASET.KIND / CLASSES / REGIONS / LESION_REGION and OUTPUT.CLASSES."""
import numpy as np
import pytest

from data_sets.kinds import class_setup, dataset_kind
from data_sets.labels import binary_to_labels, region_table, to_class_labels
from run_dirs.run_dir import command_line_keys
from tests.helpers import tiny_config
from utils.errors import UserError
from data_sets.image_files import write_png
from data_sets.slice_names import case_sort_key, mask_name_for, parse_slice_name, slice_file_name
from volumes.slices import ImageSettings


def test_lits_is_the_default_kind_with_its_classes_and_regions(tmp_path):
    setup = class_setup(tiny_config(tmp_path))
    assert setup.names == ("background", "liver", "tumour") and setup.classes == 3
    assert setup.regions == {"liver": (1, 2), "tumour": (2,)} and setup.lesion_region == "tumour"
    assert dataset_kind(tiny_config(tmp_path)).volumetric


def test_two_lits_classes_merge_the_tumour_into_the_liver_region(tmp_path):
    setup = class_setup(tiny_config(tmp_path, "OUTPUT.CLASSES=2"))
    assert setup.predicted_names == ["background", "liver"]
    assert setup.regions == {"liver": (1,)} and setup.lesion_region is None


def test_any_number_of_classes_follows_the_class_list(tmp_path):
    cfg = tiny_config(tmp_path, "DATASET.CLASSES=[background,red,green,blue]", "DATASET.REGIONS=[]",
                      "DATASET.LESION_REGION=null")
    assert cfg.OUTPUT.CLASSES == 4
    setup = class_setup(cfg)
    assert setup.regions == {"red": (1,), "green": (2,), "blue": (3,)} and setup.lesion_region is None


def test_regions_given_on_the_command_line_replace_the_kinds_own(tmp_path):
    cfg = tiny_config(tmp_path, "DATASET.REGIONS=[{organ:[1,2]}]", "DATASET.LESION_REGION=null")
    assert region_table(list(cfg.DATASET.REGIONS)) == {"organ": [1, 2]}
    assert class_setup(cfg).regions == {"organ": (1, 2)}


@pytest.mark.parametrize("overrides,message", [
    (["OUTPUT.CLASSES=4"], "OUTPUT.CLASSES=4 but DATASET.CLASSES names only 3 classes (background, liver, tumour): "
                           "leave OUTPUT.CLASSES unset, it follows DATASET.CLASSES"),
    (["DATASET.CLASSES=[background]"], "DATASET.CLASSES must list at least 2 class names (background first), "
                                       "got ['background']"),
    (["DATASET.CLASSES=[a,b,a]"], "DATASET.CLASSES must hold distinct, non-empty names, got ['a', 'b', 'a']"),
    (["DATASET.REGIONS=[{liver:[1,3]}]"], "DATASET.REGIONS.liver must list foreground labels 1..2 "
                                          "(of DATASET.CLASSES background, liver, tumour), got [1, 3]"),
    (["DATASET.LESION_REGION=lesion"], "DATASET.LESION_REGION=lesion is not a region of DATASET.REGIONS "
                                       "(liver, tumour); name one of them or set it to null"),
    (["DATASET.KIND=coco"], "DATASET.KIND must be one of lits, images"),
])
def test_a_bad_class_setup_is_one_line_naming_the_key(tmp_path, overrides, message):
    with pytest.raises(UserError) as raised:
        class_setup(tiny_config(tmp_path, *overrides))
    assert str(raised.value).startswith(message)


def test_mask_labels_beyond_the_class_list_name_the_file_and_the_value():
    mask = np.array([[0, 1], [2, 1]], np.uint8)
    np.testing.assert_array_equal(to_class_labels(mask, 2, 3), [[0, 1], [1, 1]])   # LiTS: tumour into liver
    with pytest.raises(UserError, match=r"^mask_3_0001.png holds label 7, but DATASET.CLASSES has 3 classes"):
        to_class_labels(np.where(mask == 2, 7, mask), 3, 3, "mask_3_0001.png")


def test_binary_masks_become_labels_and_other_values_are_refused():
    np.testing.assert_array_equal(binary_to_labels(np.array([[0, 255]], np.uint8)), [[0, 1]])
    with pytest.raises(UserError, match="holds values 0, 128, 255; a binary mask holds 0 and 255"):
        binary_to_labels(np.array([[0, 128, 255]], np.uint8))


def test_tf_generator_refuses_a_mask_label_beyond_the_classes(prepared_workdir, tmp_path):
    from data_generators.tf_data_generator import SliceSequence

    image, mask = tmp_path / "image_1_0000.png", tmp_path / "mask_1_0000.png"
    write_png(str(image), np.zeros((64, 64, 3), np.uint8))
    write_png(str(mask), np.full((64, 64), 7, np.uint8))
    sequence = SliceSequence([str(image)], [str(mask)], 1, classes=3, inputs=ImageSettings(3), label_count=3)
    with pytest.raises(UserError, match=f"^{mask} holds label 7"):
        sequence[0]


def test_slice_names_carry_named_cases_and_prefixes_with_underscores():
    assert parse_slice_name("image_liver_001_0042.png") == ("image", "liver_001", 42)
    assert parse_slice_name("image_3_0042.png") == ("image", 3, 42)
    assert parse_slice_name("my_img_case_7_0001.png", "my_img") == ("my_img", "case_7", 1)
    assert mask_name_for("image_liver_001_0042.png", "image", "mask") == "mask_liver_001_0042.png"
    assert slice_file_name("mask", "case_00012", 3) == "mask_case_00012_0003.png"
    assert sorted([10, 2, "b", "a"], key=case_sort_key) == [2, 10, "a", "b"]


def test_choosing_a_data_set_on_the_command_line_counts_as_setting_its_kind():
    assert command_line_keys(["data=lits", "RUN_DIR=x"]) == {"DATASET.KIND", "RUN_DIR"}


def test_an_unknown_data_set_kind_on_the_command_line_lists_the_kinds(tmp_path):
    with pytest.raises(UserError) as raised:
        tiny_config(tmp_path, "data=coco")
    assert str(raised.value) == "data=coco: data must be one of images, kits19, lits, nnunet"
