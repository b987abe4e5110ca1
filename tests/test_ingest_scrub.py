"""Ingest scrub: no metadata field or trailing byte survives, pixels stay intact."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from ingest_fixtures import (
    GRAY16_VALUES,
    SEARCHABLE,
    STORE_FOR_ORIENTATION,
    awkward_files,
    bad_files,
    encode,
    jpeg_with_metadata,
    pattern,
    png_chunk,
    png_with_metadata,
    quadrants,
    tiff_with_metadata,
    webp_with_metadata,
)
from PIL import Image

from training.ingest.scrub import (
    IngestError,
    check_clean_png,
    encode_png,
    png_chunk_types,
    scrub_bytes,
    write_verified_png,
)

LADEN = {
    "jpeg": jpeg_with_metadata,
    "png": png_with_metadata,
    "tiff": tiff_with_metadata,
    "webp": lambda p, orientation=1: webp_with_metadata(p),
}


def _idat_stream(png: bytes) -> bytes:
    """The decompressed image data: secrets must not hide in there either."""
    pos, data = 8, b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            data += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return zlib.decompress(data)


def _assert_bare(png: bytes) -> None:
    """Only IHDR/IDAT/IEND, nothing after IEND, no secret anywhere, no metadata decoded."""
    assert png_chunk_types(png) == [b"IHDR", b"IDAT", b"IEND"]
    assert png.endswith(png_chunk(b"IEND", b""))
    for blob in (png, _idat_stream(png)):
        for secret in SEARCHABLE:
            assert secret not in blob
    for marker in (b"Exif", b"eXIf", b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"xmp", b"8BIM", b"GPS"):
        assert marker not in png
    with Image.open(io.BytesIO(png)) as img:
        assert img.info == {}
        assert len(img.getexif()) == 0


@pytest.mark.parametrize("kind", sorted(LADEN))
def test_every_metadata_field_and_trailing_byte_is_gone(kind, tmp_path):
    pixels = pattern(48, 40, seed=1)
    laden, clean = LADEN[kind](pixels)
    # the fixture really carries what it claims (else this test proves nothing)
    assert b"TRAILING-SECRET-ACROPALYPSE" in laden
    with Image.open(io.BytesIO(laden)) as img:
        assert {"icc_profile", "xmp"} <= set(img.info)

    out = scrub_bytes(laden, 32, 3)
    assert {"icc", "xmp"} <= set(out.stripped)
    # pixels intact: identical to scrubbing the same image stored without metadata
    assert np.array_equal(out.pixels, scrub_bytes(clean, 32, 3).pixels)
    path = tmp_path / "out.png"
    write_verified_png(path, out.pixels)
    _assert_bare(path.read_bytes())


def test_exif_gps_makernote_thumbnail_are_in_the_source_not_the_output(tmp_path):
    laden, _ = jpeg_with_metadata(pattern(32, 32))
    with Image.open(io.BytesIO(laden)) as img:
        exif = img.getexif()
        assert exif.get_ifd(0x8825)[1] == "N"  # GPS IFD present in the source
        assert exif.get_ifd(0x8769)[0x927C].startswith(b"MAKERNOTE")
        assert laden.count(b"\xff\xd8") >= 2  # the embedded thumbnail JPEG
        assert "photoshop" in img.info and "comment" in img.info
    out = scrub_bytes(laden, 32, 3)
    assert {"exif", "comment", "iptc"} <= set(out.stripped)
    png = encode_png(out.pixels)
    _assert_bare(png)
    assert png.count(b"\xff\xd8") == 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_exactly(orientation):
    upright = pattern(32, 32, seed=orientation)
    stored = np.ascontiguousarray(STORE_FOR_ORIENTATION[orientation](upright))
    laden, _ = png_with_metadata(stored, orientation)  # lossless: exact comparison
    out = scrub_bytes(laden, 32, 3)
    assert np.array_equal(out.pixels, upright)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_jpeg_orientation_with_resize_and_draft_decoding(orientation):
    upright = quadrants(480, 640)
    stored = np.ascontiguousarray(STORE_FOR_ORIENTATION[orientation](upright))
    laden, _ = jpeg_with_metadata(stored, orientation)
    out = scrub_bytes(laden, 96, 3).pixels.astype(int)
    expected = quadrants(96, 96).astype(int)
    inner = np.s_[4:44, 4:44]  # away from the colour edges
    for qy in (0, 48):
        for qx in (0, 48):
            block = out[qy:, qx:][inner]
            assert np.abs(block - expected[qy:, qx:][inner]).max() < 30, (qy, qx)


def test_gray_output_and_pillow_default_save_trap(tmp_path):
    laden, _ = jpeg_with_metadata(pattern(40, 40))
    # the trap: re-saving with Pillow's defaults keeps the comment
    naive = io.BytesIO()
    Image.open(io.BytesIO(laden)).save(naive, "JPEG")
    assert b"JPEG-COMMENT-SECRET" in naive.getvalue()
    out = scrub_bytes(laden, 24, 1)
    assert out.pixels.shape == (24, 24, 1)
    _assert_bare(encode_png(out.pixels))


def test_awkward_files_are_converted_not_skipped():
    files = awkward_files()
    out = {name: scrub_bytes(data, 16, 3).pixels for name, data in files.items()}
    assert np.abs(out["cmyk.jpg"][8, 8].astype(int) - (255, 0, 0)).max() < 12
    assert tuple(out["transparent.png"][0, 0]) == (255, 255, 255)  # alpha flattened on white
    assert tuple(out["palette.png"][0, 0]) == (220, 20, 20)
    assert tuple(out["palette.gif"][0, 15]) == (240, 240, 240)
    assert tuple(out["bitmap.bmp"][0, 0]) == (20, 200, 20)
    assert tuple(out["rgb48.png"][3, 3]) == (128, 128, 128)
    # 16-bit gray is scaled to 8 bits, not clipped at 255 (Pillow's convert would clip)
    gray = scrub_bytes(files["gray16.png"], 4, 1).pixels[0, :, 0]
    assert gray.tolist() == [round(v * 255 / 65535) for v in GRAY16_VALUES]


def test_bad_files_raise_their_reason():
    for name, (data, reason) in bad_files().items():
        with pytest.raises(IngestError) as e:
            scrub_bytes(data, 16, 1)
        assert e.value.reason == reason, (name, e.value.detail)


def test_verifier_rejects_metadata_and_trailing_bytes():
    pixels = pattern(8, 8)
    png = encode_png(pixels)
    check_clean_png(png, pixels)
    with pytest.raises(IngestError, match="after IEND"):
        check_clean_png(png + b"x", pixels)
    text = png[:33] + png_chunk(b"tEXt", b"k\0v") + png[33:]
    with pytest.raises(IngestError, match="tEXt"):
        check_clean_png(text, pixels)
    with pytest.raises(IngestError, match="differ"):
        check_clean_png(png, pixels ^ 1)
    with pytest.raises(ValueError):
        scrub_bytes(encode(pixels, "PNG"), 8, 2)
