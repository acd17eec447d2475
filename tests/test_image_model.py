"""The exported model's pure parts: PIL's resize as matrices, the export options' checks."""

import numpy as np
import pytest
from PIL import Image

from evoprune_deap.errors import ConfigError
from evoprune_deap.head.models.image_model import resize_matrix
from evoprune_deap.shipping.export import check_options, parse_input_size


@pytest.mark.parametrize(
    "height, width, size", [(300, 300, 128), (25, 25, 32), (300, 200, 64), (97, 411, 50), (128, 128, 128)]
)
def test_resize_matrices_are_pils_bilinear_filter(height, width, size):
    image = np.random.default_rng(height).uniform(0, 255, (height, width)).astype(np.float32)
    pil = np.asarray(Image.fromarray(image, mode="F").resize((size, size), Image.BILINEAR))
    ours = resize_matrix(height, size) @ image @ resize_matrix(width, size).T
    assert np.abs(ours - pil).max() < 1e-3
    np.testing.assert_allclose(resize_matrix(height, size).sum(axis=1), 1.0)


def test_in_model_resize_gives_pils_uint8_pixels():
    """The fixed-size resize of an exported model, run in Keras, against PIL resizing the same uint8 image."""
    import keras

    from evoprune_deap.head.models.image_model import _resize

    image = np.random.default_rng(5).integers(0, 256, (1, 75, 60, 3), dtype=np.uint8)
    inputs = keras.Input((75, 60, 3))
    model = keras.Model(inputs, _resize(inputs, 32, (75, 60)))
    ours = np.asarray(model.predict(image.astype(np.float32), verbose=0))[0]
    pil = np.asarray(Image.fromarray(image[0]).resize((32, 32), Image.BILINEAR), dtype=np.float32)
    assert np.mean(ours == pil) > 0.995 and np.abs(ours - pil).max() <= 1.0


def test_input_size_parses_height_by_width():
    assert parse_input_size("300x200") == (300, 200) and parse_input_size(None) is None
    for bad in ("300", "ax3", "0x5", "3x4x5"):
        with pytest.raises(ConfigError, match=r"HEIGHTxWIDTH|needs sides in \[1, 4096\]"):
            parse_input_size(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        (("onnx", "none", None, None, None), "--format 'onnx'"),
        (("litert", "int4", None, None, None), "--quantize 'int4'"),
        (("keras", "dynamic", None, None, None), "needs --format litert"),
        (("keras", "float16", None, None, None), "needs --format litert"),
        (("litert", "none", "m.keras", None, None), "does not end with .tflite"),
        (("keras", "none", None, "abc", "x.keras"), "not both"),
    ],
)
def test_bad_export_options_are_refused_before_any_work(options, message):
    with pytest.raises(ConfigError, match=message):
        check_options(*options)
