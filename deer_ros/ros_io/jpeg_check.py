"""Decode a JPEG only when it is complete: the check behind libjpeg's "premature end" warning.

A frame cut short in transit with its end marker re-appended decodes in cv2 and Pillow alike:
libjpeg fills the missing data with zeros (a grey band at the bottom), prints "Corrupt JPEG data:
premature end of data segment" to stderr and returns an image; neither library tells its caller.
Two checks find what that warning finds, without reading stderr:

* restart markers (exact, on the bytes): a sequential scan with a restart interval carries one
  RSTn marker per interval; fewer means whole intervals are missing;
* the cut inside the data: the image is decoded twice, as sent and with filler bytes inserted
  before the end marker. A complete scan never needs bits past its last data byte, so both decodes
  are equal; a cut one reads the filler where libjpeg would have filled zeros, and they differ.
  (A cut that only drops bits which leave every pixel unchanged passes: nothing was lost.)

Why not walk the entropy-coded data in Python: ~0.5 s per 640x480 frame. The price here is a
second decode of the frames actually used (pure Python and Pillow, no rclpy).
"""
import io
import math
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageChops

SOI, EOI, SOS, DRI = 0xD8, 0xD9, 0xDA, 0xDD
SEQUENTIAL_SOF = {0xC0, 0xC1, 0xC9}          # baseline / extended sequential (Huffman, arith.)
FILLER = b'\xa5\x5a' * 32                      # no 0xFF: never read as a marker


def decode_jpeg(data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a complete JPEG; ValueError saying what is wrong otherwise."""
    end = data.rfind(bytes((0xFF, EOI)))
    if end < 0:
        raise ValueError('JPEG has no end-of-image marker: truncated')
    missing = missing_restart_markers(data)
    if missing:
        raise ValueError(f'JPEG truncated: {missing} restart interval(s) missing (corrupt '
                         'data: premature end of the data segment)')
    image = _open(data)
    try:
        filled = _open(data[:end] + FILLER + data[end:])
    except ValueError:
        filled = None
    if filled is None or filled.size != image.size or filled.mode != image.mode or \
            ImageChops.difference(image, filled).getbbox() is not None:
        raise ValueError('JPEG truncated: its data ends before the image does (corrupt data: '
                         'premature end of the data segment)')
    return np.array(image if image.mode == 'RGB' else image.convert('RGB'))   # writable


def _open(data: bytes) -> Image.Image:
    """The decoded (loaded) Pillow image; ValueError when Pillow cannot decode it."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except (OSError, SyntaxError, ValueError) as exc:   # Pillow's "broken data stream", ...
        raise ValueError(f'cannot decode JPEG: {exc}') from exc


def missing_restart_markers(data: bytes) -> int:
    """RSTn markers missing from the sequential scans of `data` (0 when none or not checkable)."""
    frame: Dict[int, Tuple[int, int]] = {}      # component id -> (h, v) sampling
    size = (0, 0)
    interval, missing, i = 0, 0, 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return missing                       # not a marker where one must be: not ours
        marker = data[i + 1]
        if marker in (0xFF, 0x01) or 0xD0 <= marker <= 0xD7 or marker == SOI:
            i += 1 if marker == 0xFF else 2
            continue
        if marker == EOI:
            return missing
        length = int.from_bytes(data[i + 2:i + 4], 'big')
        if length < 2:
            return missing
        segment = data[i + 4:i + 2 + length]
        if marker in SEQUENTIAL_SOF and len(segment) >= 6:
            size = (int.from_bytes(segment[3:5], 'big'), int.from_bytes(segment[1:3], 'big'))
            frame = {segment[6 + 3 * k]: (segment[7 + 3 * k] >> 4, segment[7 + 3 * k] & 15)
                     for k in range(segment[5]) if 8 + 3 * k < len(segment)}
        elif marker == DRI and len(segment) >= 2:
            interval = int.from_bytes(segment[:2], 'big')
        i += 2 + length
        if marker == SOS and segment:
            ids = [segment[1 + 2 * k] for k in range(segment[0]) if 1 + 2 * k < len(segment)]
            found, i = _scan_restarts(data, i)
            mcus = _mcus(size, frame, ids)
            if interval and mcus:
                missing += max(0, math.ceil(mcus / interval) - 1 - found)
    return missing


def _scan_restarts(data: bytes, start: int) -> Tuple[int, int]:
    """(RSTn markers in the entropy-coded data from start, index of the marker ending it)."""
    found, i = 0, start
    while True:
        i = data.find(b'\xff', i)
        if i < 0 or i + 1 >= len(data):
            return found, len(data)
        following = data[i + 1]
        if following == 0x00 or following == 0xFF:     # stuffed byte / fill byte
            i += 1 if following == 0xFF else 2
        elif 0xD0 <= following <= 0xD7:
            found += 1
            i += 2
        else:
            return found, i


def _mcus(size: Tuple[int, int], frame: Dict[int, Tuple[int, int]], ids: List[int]) -> int:
    """MCUs of a scan of components `ids` (T.81 A.2); 0 when the frame header is unknown."""
    width, height = size
    if not frame or not width or not height or any(c not in frame for c in ids):
        return 0
    h_max = max(h for h, _ in frame.values())
    v_max = max(v for _, v in frame.values())
    if len(ids) == 1:                            # non-interleaved: one block per MCU
        h, v = frame[ids[0]]
        return (math.ceil(math.ceil(width * h / h_max) / 8)
                * math.ceil(math.ceil(height * v / v_max) / 8))
    return math.ceil(width / (8 * h_max)) * math.ceil(height / (8 * v_max))
