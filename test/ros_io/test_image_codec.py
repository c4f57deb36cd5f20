"""image_codec: every supported encoding, row padding, endianness and the clear rejections."""
import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from deer_ros.ros_io.image_codec import ImageDecoder, decode_compressed, decode_raw, encode_rgb8


def _image(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _padded(pixels, padding):
    """Rows of pixels (H, W*C bytes) with `padding` junk bytes appended to each row."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1)
    junk = np.full((h, padding), 0xAB, dtype=np.uint8)
    return np.concatenate([rows, junk], axis=1).tobytes(), rows.shape[1] + padding


@pytest.mark.parametrize('padding', [0, 1, 3, 64])
def test_rgb8_honours_step_padding(padding):
    rgb = _image()
    fields = encode_rgb8(rgb, padding=padding)
    out = decode_raw(fields['encoding'], fields['height'], fields['width'], fields['step'],
                     False, fields['data'])
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('encoding,convert', [
    ('bgr8', lambda rgb: rgb[..., ::-1]),
    ('rgba8', lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])),
    ('bgra8', lambda rgb: np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
])
def test_colour_encodings_decode_to_rgb_with_padding(encoding, convert):
    rgb = _image()
    data, step = _padded(np.ascontiguousarray(convert(rgb)), padding=5)
    out = decode_raw(encoding, 5, 7, step, False, data)
    np.testing.assert_array_equal(out, rgb)


def test_mono8_replicates_to_three_channels():
    gray = _image()[..., 0].copy()
    data, step = _padded(gray[..., None], padding=2)
    out = decode_raw('mono8', 5, 7, step, False, data)
    assert out.shape == (5, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono16_respects_is_bigendian(bigendian):
    values = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000
    raw = values.astype('>u2' if bigendian else '<u2').tobytes()
    out = decode_raw('mono16', 5, 7, 14, bigendian, raw)
    np.testing.assert_array_equal(out[..., 0], (values >> 8).astype(np.uint8))


def test_array_data_as_rclpy_delivers_it():
    rgb = _image()
    fields = encode_rgb8(rgb, padding=4)
    out = decode_raw('rgb8', 5, 7, fields['step'], False, array.array('B', fields['data']))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize('encoding,height,width,step,size,match', [
    ('yuv422', 5, 7, 21, 105, 'unsupported image encoding'),
    ('32FC1', 5, 7, 28, 140, 'unsupported image encoding'),
    ('rgb8', 5, 7, 20, 100, 'step 20 is smaller'),
    ('rgb8', 5, 7, 21, 104, 'truncated'),
    ('rgb8', 0, 7, 21, 0, 'bad image size'),
    ('mono16', 5, 7, 15, 75, 'not a multiple'),
])
def test_bad_images_are_rejected_with_the_reason(encoding, height, width, step, size, match):
    with pytest.raises(ValueError, match=match):
        decode_raw(encoding, height, width, step, False, bytes(size))


def test_decoder_accepts_message_objects_and_compressed():
    rgb = _image(16, 16)
    msg = SimpleNamespace(header=None, **encode_rgb8(rgb, padding=3))
    decoder = ImageDecoder(use_cv_bridge=False)
    assert decoder.backend == 'numpy'
    np.testing.assert_array_equal(decoder.decode(msg), rgb)
    ok, png = cv2.imencode('.png', rgb[..., ::-1])
    compressed = SimpleNamespace(format='png', data=png.tobytes())
    np.testing.assert_array_equal(decoder.decode(compressed), rgb)


def test_undecodable_compressed_is_rejected():
    with pytest.raises(ValueError, match='cannot decode'):
        decode_compressed('jpeg', b'not a jpeg at all')
    with pytest.raises(ValueError, match='no data'):
        decode_compressed('jpeg', b'')
