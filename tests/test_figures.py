"""Figures: label colours and their legend."""
import numpy as np

from figures.plots import colour_labels, label_palette, plot_rows


def test_classes_named_after_colours_are_drawn_in_them_and_others_keep_the_default():
    palette = label_palette(["background", "red", "liver", "blue"])
    mask = np.array([[0, 1, 2, 3]])
    np.testing.assert_array_equal(colour_labels(mask, palette)[0],
                                  [[0, 0, 0], [255, 0, 0], [230, 0, 0], [0, 0, 255]])
    # LiTS's names are no colours: liver green, tumour red, as before
    np.testing.assert_array_equal(label_palette(["background", "liver", "tumour"])[:3], colour_labels(np.arange(3)))


def test_prediction_rows_carry_a_legend_of_the_class_names(tmp_path):
    image = np.zeros((8, 12, 3), np.uint8)
    prediction = np.array([[0, 1, 2, 3] * 3] * 8)
    figure = plot_rows([{"image": image, "prediction": prediction}], out_path=str(tmp_path / "rows.png"),
                       class_names=["background", "red", "green", "blue"])
    legend_names = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    assert legend_names == ["red", "green", "blue"]
    assert (tmp_path / "rows.png").stat().st_size > 0
