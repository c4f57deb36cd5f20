"""sensor_msgs/Image and CompressedImage to (H, W, 3) uint8 RGB, without rclpy.

Uses the ROS 2 cv_bridge when it is installed (vision_opencv); otherwise a numpy converter that
honours `step` (row padding) and `is_bigendian`. The PyPI `cv-bridge` package is a broken ROS 1
port and is never used (see ENVIRONMENT.md). Every rejection is a ValueError saying what is wrong.

Compressed images are checked against MAX_SIDE and MAX_COMPRESSED_PIXELS from the size their PNG
IHDR or JPEG SOF header declares, before anything is decoded: a few hundred kilobytes of PNG can
declare 20000x20000 pixels (1.2 GB decoded). Other formats are rejected (their size cannot be
checked first; ROS image_transport's compressed plugin sends PNG or JPEG). A JPEG is decoded only
when complete (jpeg_check: libjpeg decodes a truncated one with only a warning on stderr).

A raw frame must match its own header exactly: `data` of `step * height` bytes. Longer data (an
extra row, rgba8 bytes labelled rgb8) is as wrong as shorter: the header lies about the pixels.
"""
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

from deer_ros.ros_io.jpeg_check import decode_jpeg

# encoding: (channels, numpy dtype, conversion to RGB or None)
ENCODINGS: Dict[str, Tuple[int, str, Optional[int]]] = {
    'rgb8': (3, 'u1', None),
    'bgr8': (3, 'u1', cv2.COLOR_BGR2RGB),
    'rgba8': (4, 'u1', cv2.COLOR_RGBA2RGB),
    'bgra8': (4, 'u1', cv2.COLOR_BGRA2RGB),
    'mono8': (1, 'u1', cv2.COLOR_GRAY2RGB),
    '8UC1': (1, 'u1', cv2.COLOR_GRAY2RGB),
    '8UC3': (3, 'u1', None),          # assumed RGB, as cv_bridge passes it through
    'mono16': (1, 'u2', cv2.COLOR_GRAY2RGB),
    '16UC1': (1, 'u2', cv2.COLOR_GRAY2RGB),
}
MAX_SIDE = 16384
MAX_COMPRESSED_PIXELS = 4096 * 4096     # 16.8 MP (48 MB as RGB); a 4K camera is 8.3 MP
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def decode_raw(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
               data: Any) -> np.ndarray:
    """Decode raw image fields to a C-contiguous (H, W, 3) uint8 RGB array (a copy).

    16-bit images keep their 8 most significant bits.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f'unsupported image encoding {encoding!r}; supported: '
                         + ', '.join(ENCODINGS))
    channels, dtype, conversion = ENCODINGS[encoding]
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ValueError(f'bad image size {width}x{height}')
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ValueError(f'step {step} is smaller than one {encoding} row of {width} pixels '
                         f'({row_bytes} bytes)')
    if step % itemsize:
        raise ValueError(f'step {step} is not a multiple of the {itemsize}-byte pixel element')
    buffer = memoryview(data).cast('B') if not isinstance(data, (bytes, bytearray)) else data
    expected = step * height
    check_data_size(len(buffer), encoding, height, width, step)
    flat = np.frombuffer(buffer, dtype=np.uint8, count=expected)
    rows = flat.reshape(height, step)[:, :row_bytes]
    pixels = rows.copy().view(np.dtype(dtype).newbyteorder('>' if is_bigendian else '<'))
    pixels = pixels.reshape(height, width, channels)
    if itemsize == 2:
        pixels = (pixels.astype(np.uint16) >> 8).astype(np.uint8)
    if conversion is not None:
        pixels = cv2.cvtColor(pixels, conversion)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def decode_compressed(format_: str, data: Any) -> np.ndarray:
    """Decode a CompressedImage payload (jpeg, png, ...) to (H, W, 3) uint8 RGB."""
    buffer = np.frombuffer(memoryview(data).cast('B') if not isinstance(data, (bytes, bytearray))
                           else data, dtype=np.uint8)
    if buffer.size == 0:
        raise ValueError('compressed image has no data')
    if check_compressed_size(format_, buffer.tobytes()[:65536]) == 'jpeg':
        try:
            return decode_jpeg(buffer.tobytes())
        except ValueError as exc:
            raise ValueError(f'compressed image rejected (format {format_!r}, {buffer.size} '
                             f'bytes): {exc}') from exc
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'cannot decode compressed image (format {format_!r}, '
                         f'{buffer.size} bytes)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def declared_size(head: bytes) -> Tuple[str, int, int]:
    """(kind, width, height) from a PNG IHDR or JPEG SOF header; ValueError if neither."""
    if head[:8] == PNG_SIGNATURE:
        if len(head) < 24 or head[12:16] != b'IHDR':
            raise ValueError('PNG without an IHDR header')
        return 'png', int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
    if head[:2] == b'\xff\xd8':
        i = 2
        while i + 4 <= len(head):
            if head[i] != 0xFF:
                raise ValueError('JPEG header is corrupt')
            marker = head[i + 1]
            if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
                i += 1 if marker == 0xFF else 2        # fill byte or standalone marker
                continue
            length = int.from_bytes(head[i + 2:i + 4], 'big')
            if marker in _JPEG_SOF:
                if i + 9 > len(head):
                    break
                return ('jpeg', int.from_bytes(head[i + 7:i + 9], 'big'),
                        int.from_bytes(head[i + 5:i + 7], 'big'))
            if marker == 0xDA or length < 2:           # image data before any frame header
                break
            i += 2 + length
        raise ValueError('JPEG without a frame (SOF) header in its first 64 KiB')
    raise ValueError('neither a PNG nor a JPEG header, so its size cannot be checked first')


def check_compressed_size(format_: str, head: bytes) -> str:
    """'png' or 'jpeg'; ValueError unless the declared size is within the limits."""
    try:
        kind, width, height = declared_size(head)
    except ValueError as exc:
        raise ValueError(f'cannot decode compressed image (format {format_!r}): {exc}') from exc
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or \
            width * height > MAX_COMPRESSED_PIXELS:
        raise ValueError(f'compressed {kind} declares {width}x{height} pixels: over the limit '
                         f'of {MAX_SIDE} per side and {MAX_COMPRESSED_PIXELS} pixels; not '
                         'decoded')
    return kind


def _ros2_cv_bridge() -> Any:
    """A ROS 2 CvBridge, or None (absent, or the PyPI ROS 1 port)."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    bridge = CvBridge()
    if not hasattr(bridge, 'compressed_imgmsg_to_cv2'):
        return None
    return bridge


class ImageDecoder:
    """Decode sensor_msgs images; cv_bridge when the ROS 2 one works, else decode_raw."""

    def __init__(self, use_cv_bridge: bool = True):
        self.bridge = _ros2_cv_bridge() if use_cv_bridge else None

    @property
    def backend(self) -> str:
        """'cv_bridge' or 'numpy'."""
        return 'cv_bridge' if self.bridge is not None else 'numpy'

    def decode(self, msg: Any) -> np.ndarray:
        """sensor_msgs/Image or CompressedImage (any object with their fields) to RGB uint8."""
        if hasattr(msg, 'format') and not hasattr(msg, 'encoding'):
            return decode_compressed(msg.format, msg.data)
        if self.bridge is not None and msg.encoding in ENCODINGS and msg.encoding[-2:] != '16':
            decode_raw_check(msg)  # same validation and messages as the numpy path
            try:
                return np.ascontiguousarray(self.bridge.imgmsg_to_cv2(msg, 'rgb8'))
            except Exception as exc:  # cv_bridge raises its own error types
                raise ValueError(f'cv_bridge: {exc}') from exc
        return decode_raw(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian),
                          msg.data)


def decode_raw_check(msg: Any) -> None:
    """Raise the ValueError decode_raw would raise for msg's encoding, size, step and data."""
    if msg.encoding not in ENCODINGS:
        raise ValueError(f'unsupported image encoding {msg.encoding!r}')
    if not (0 < msg.height <= MAX_SIDE and 0 < msg.width <= MAX_SIDE):
        raise ValueError(f'bad image size {msg.width}x{msg.height}')
    channels, dtype, _ = ENCODINGS[msg.encoding]
    if msg.step < msg.width * channels * np.dtype(dtype).itemsize:
        raise ValueError(f'step {msg.step} is smaller than one {msg.encoding} row')
    check_data_size(len(msg.data), msg.encoding, msg.height, msg.width, msg.step)


def check_data_size(size: int, encoding: str, height: int, width: int, step: int) -> None:
    """ValueError unless data is exactly step * height bytes (sensor_msgs/Image's contract)."""
    expected = step * height
    if size < expected:
        raise ValueError(f'image data truncated: {size} bytes for {height} rows of step {step} '
                         f'(need {expected})')
    if size > expected:
        raise ValueError(f'image data longer than its header: {size} bytes, but {encoding} '
                         f'{width}x{height} with step {step} is {expected} bytes; a frame that '
                         'does not match its own header is not used')


def check_compressed(msg: Any) -> None:
    """The cheap checks of a CompressedImage on arrival: data present, PNG/JPEG, size in limits.

    Whether its data is complete is known only when it is decoded (decode_compressed).
    """
    data = msg.data
    if len(data) == 0:
        raise ValueError('compressed image has no data')
    check_compressed_size(msg.format, memoryview(data).cast('B')[:65536].tobytes())


def encode_rgb8(image: np.ndarray, padding: int = 0) -> Dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image for an (H, W, 3) uint8 array (test and demo helper).

    padding adds that many bytes at the end of every row (step = 3 * W + padding).
    """
    height, width, _ = image.shape
    step = width * 3 + padding
    rows = np.zeros((height, step), dtype=np.uint8)
    rows[:, :width * 3] = image.reshape(height, width * 3)
    return dict(encoding='rgb8', height=height, width=width, step=step, is_bigendian=0,
                data=rows.tobytes())
