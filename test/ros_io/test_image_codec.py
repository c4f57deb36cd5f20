"""image_codec: every supported encoding, row padding, endianness and the clear rejections."""
import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from deer_ros.ros_io.image_codec import ImageDecoder, check_compressed, decode_compressed, \
    decode_raw, decode_raw_check, encode_rgb8
from deer_ros.ros_io.jpeg_check import missing_restart_markers


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


@pytest.mark.parametrize('extra,match', [
    (21, 'longer than its header'),        # one extra row of 7 rgb8 pixels
    (35, 'longer than its header'),        # rgba8 bytes (4 per pixel) labelled rgb8
])
def test_data_longer_than_the_header_says_is_rejected(extra, match):
    fields = encode_rgb8(_image())
    with pytest.raises(ValueError, match=match):
        decode_raw('rgb8', 5, 7, 21, False, fields['data'] + bytes(extra))
    msg = SimpleNamespace(**dict(fields, data=fields['data'] + bytes(extra)))
    with pytest.raises(ValueError, match=match):
        decode_raw_check(msg)


def _jpeg(image, **params):
    flags = [cv2.IMWRITE_JPEG_QUALITY, 90]
    for key, value in params.items():
        flags += [getattr(cv2, f'IMWRITE_JPEG_{key.upper()}'), value]
    return cv2.imencode('.jpg', image, flags)[1].tobytes()


def _camera_like(h=120, w=160):
    return cv2.GaussianBlur(_image(h, w, seed=3), (0, 0), 2.0)


@pytest.mark.parametrize('keep', [0.3, 0.9, -3])
@pytest.mark.parametrize('params', [{}, {'rst_interval': 4}])
def test_truncated_jpeg_with_its_end_marker_reappended_is_rejected(keep, params):
    data = _jpeg(_camera_like(), **params)
    cut = data[:int(len(data) * keep)] if keep > 0 else data[:keep]
    assert cv2.imdecode(np.frombuffer(cut + b'\xff\xd9', np.uint8), 1) is not None  # cv2 takes it
    with pytest.raises(ValueError, match='truncated'):
        decode_compressed('jpeg', cut + b'\xff\xd9')
    with pytest.raises(ValueError, match='truncated'):
        decode_compressed('jpeg', cut)                    # no end marker at all


@pytest.mark.parametrize('params', [{}, {'rst_interval': 3}, {'progressive': 1}])
def test_complete_jpegs_decode_as_cv2_does(params):
    image = _camera_like()
    data = _jpeg(image, **params)
    out = decode_compressed('jpeg', data)
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2RGB)
    assert out.shape == image.shape and np.abs(out.astype(int) - expected).max() <= 1
    gray = _jpeg(image[..., 0].copy())
    assert decode_compressed('jpeg', gray).shape == image.shape


def test_missing_restart_intervals_are_counted_on_the_bytes():
    data = _jpeg(_camera_like(), rst_interval=2)
    assert missing_restart_markers(data) == 0
    cut = data[:data.rfind(b'\xff\xd3')] + b'\xff\xd9'     # cut at a restart marker
    assert missing_restart_markers(cut) >= 1


def test_compressed_arrival_checks_are_cheap_and_clear():
    with pytest.raises(ValueError, match='no data'):
        check_compressed(SimpleNamespace(format='jpeg', data=b''))
    with pytest.raises(ValueError, match='neither a PNG nor a JPEG'):
        check_compressed(SimpleNamespace(format='jpeg', data=b'garbage' * 10))
    check_compressed(SimpleNamespace(format='jpeg', data=_jpeg(_camera_like())))
