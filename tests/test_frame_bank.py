"""Frame bank files (docs/PROTOCOL.md, "Frame bank")."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from host_tools.frame_bank import (
    HEADER_SIZE,
    encode_frame_bank,
    parse_frame_bank_header,
    read_frame_bank,
    write_frame_bank,
)


@pytest.mark.parametrize("shape", [(3, 96, 96, 1), (2, 5, 7, 3), (0, 4, 4, 1), (1, 1, 1, 1)])
def test_round_trip(tmp_path, shape):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, shape, dtype=np.uint8)
    path = write_frame_bank(tmp_path / "bank.bin", frames)
    assert path == tmp_path / "bank.bin"
    assert path.stat().st_size == HEADER_SIZE + frames.size
    back = read_frame_bank(path)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, frames)
    assert not (tmp_path / "bank.bin.tmp").exists()


def test_header_bytes_exactly_as_specified():
    frames = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)  # n, h, w, c
    data = encode_frame_bank(frames)
    assert data[:4] == b"PKFB"
    assert struct.unpack_from("<IIHHBB", data, 4) == (1, 2, 4, 3, 3, 1)  # width 4, height 3
    assert data[18:32] == bytes(14)
    assert data[32:] == frames.tobytes()  # row-major HWC
    gray = encode_frame_bank(np.zeros((1, 2, 2, 1), np.uint8))
    assert gray[16:18] == b"\x01\x00"  # channels 1, format GRAY8


def _bank(tmp_path, data: bytes):
    path = tmp_path / "bad.bank"
    path.write_bytes(data)
    return path


GOOD = encode_frame_bank(np.zeros((2, 4, 4, 1), np.uint8))


@pytest.mark.parametrize(
    "data, match",
    [
        (b"PKFB\x01\x00", "truncated header: 6 bytes"),
        (b"PKFX" + GOOD[4:], "bad magic b'PKFX'"),
        (GOOD[:4] + struct.pack("<I", 2) + GOOD[8:], "unsupported version 2"),
        (GOOD[:16] + b"\x02\x00" + GOOD[18:], "bad channels 2: format 0 .GRAY8. has 1"),
        (GOOD[:16] + b"\x01\x01" + GOOD[18:], "bad channels 1: format 1 .RGB888. has 3"),
        (GOOD[:16] + b"\x01\x07" + GOOD[18:], "bad format 7"),
        (GOOD[:12] + b"\x00\x00" + GOOD[14:], "bad size: width 0"),
        (GOOD[:20] + b"\x01" + GOOD[21:], "reserved header bytes are not zero"),
        (GOOD[:-1], "truncated frame data: count 2 x 4x4x1 needs 32 bytes, file has 31"),
        (GOOD + b"\x00", "1 trailing bytes"),
    ],
)
def test_read_errors_name_file_and_field(tmp_path, data, match):
    path = _bank(tmp_path, data)
    with pytest.raises(ValueError, match=match) as err:
        read_frame_bank(path)
    assert str(path) in str(err.value)


def test_header_parse_alone():
    header = parse_frame_bank_header(GOOD)
    assert (header.count, header.width, header.height, header.channels) == (2, 4, 4, 1)
    assert header.frame_bytes == 16 and header.data_bytes == 32


@pytest.mark.parametrize(
    "frames, exc, match",
    [
        (np.zeros((1, 4, 4, 1), np.float32), ValueError, "dtype uint8"),
        (np.zeros((1, 4, 4), np.uint8), ValueError, r"shape \[n, h, w, c\]"),
        (np.zeros((1, 4, 4, 2), np.uint8), ValueError, "channels must be 1"),
        (np.zeros((1, 0, 4, 1), np.uint8), ValueError, "width 4 / height 0"),
        ([[[[0]]]], TypeError, "numpy array"),
    ],
)
def test_write_rejects_bad_frames(tmp_path, frames, exc, match):
    with pytest.raises(exc, match=match):
        write_frame_bank(tmp_path / "x.bank", frames)
    assert not (tmp_path / "x.bank").exists()


@pytest.mark.parametrize("pixfmt, code", [("RGB565", 2), ("yuyv", 3), (2, 2)])
def test_two_byte_formats_round_trip(tmp_path, pixfmt, code):
    frames = np.random.default_rng(1).integers(0, 256, (2, 6, 8, 2), dtype=np.uint8)
    path = write_frame_bank(tmp_path / "b.pkfb", frames, pixfmt=pixfmt)
    data = path.read_bytes()
    assert data[16:18] == bytes([2, code])  # 2 bytes per pixel, the format's code
    header = parse_frame_bank_header(data)
    assert header.format == code and header.frame_bytes == 6 * 8 * 2
    np.testing.assert_array_equal(read_frame_bank(path), frames)


@pytest.mark.parametrize(
    "frames, pixfmt, match",
    [
        (np.zeros((1, 4, 4, 2), np.uint8), None, "give pixfmt='RGB565' or 'YUYV'"),
        (np.zeros((1, 4, 4, 1), np.uint8), "RGB565", "RGB565 has 2 bytes per pixel"),
        (np.zeros((1, 4, 5, 2), np.uint8), "YUYV", "even width"),
        (np.zeros((1, 4, 4, 2), np.uint8), "NV12", "unknown pixel format"),
    ],
)
def test_two_byte_formats_are_checked(frames, pixfmt, match):
    with pytest.raises(ValueError, match=match):
        encode_frame_bank(frames, pixfmt)


def test_write_accepts_non_contiguous_views(tmp_path):
    frames = np.arange(2 * 4 * 6 * 1, dtype=np.uint8).reshape(2, 4, 6, 1)[:, :, ::2]
    back = read_frame_bank(write_frame_bank(tmp_path / "v.bank", frames))
    np.testing.assert_array_equal(back, frames)
