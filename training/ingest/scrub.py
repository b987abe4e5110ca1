"""Ingest scrub: an image file in, clean pixels and a metadata-free PNG out.

Nothing from the source file except its pixels reaches the dataset. The file is decoded
at full size (only formats in ``ALLOWED_FORMATS``), its EXIF orientation applied, alpha
flattened, converted to gray or RGB, resized, and the result rebuilt from a fresh numpy
array: EXIF
(GPS, MakerNotes, thumbnails), XMP, IPTC, ICC profiles, comments, text chunks and any bytes
after the end-of-image marker (aCropalypse) are never copied, because nothing but the
array is. The PNG written is then read back and checked: IHDR, IDAT and IEND chunks only,
nothing after IEND, identical pixels.

Besides the small pixels, the scrub gives the ``content_sha256`` of the picture at full
size (after orientation, alpha and colour conversion, before resizing): any lossless copy
of a picture (the same pixels re-saved as PNG, with other metadata or none, or with the
rotation applied instead of tagged) has the same content digest, which is what
``forget --image`` and the rebuild blocklist match on. A full-size decode costs about
twice libjpeg's reduced-size decoding (training/ingest/bench.py); a removal request that
finds nothing would cost more.

Files that cannot be ingested raise ``IngestError`` with one of the ``REASONS`` so a build
can skip them, say why, and carry on with the rest.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats we decode. Pillow can open many more (EPS runs Ghostscript, for one); a camera
# or web image that is not one of these is skipped as "unknown_format". JPEG includes
# MPO, the multi-picture JPEG many phones write: its first picture is the photo.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
# Refuse sources larger than this before decoding them (a decompression bomb declares a
# huge size in a tiny file). 40 Mpx is above any camera photo in COCO.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 64 << 20
# Transparent pixels become this colour: alpha does not reach the model.
ALPHA_BACKGROUND = (255, 255, 255)

REASONS = {
    "missing": "the file does not exist",
    "unreadable": "the file could not be read",
    "empty": "zero-byte file",
    "too_large": f"file larger than {MAX_FILE_BYTES >> 20} MiB",
    "unknown_format": f"not a decodable {'/'.join(ALLOWED_FORMATS)} image",
    "decompression_bomb": "declared size too large to decode safely",
    "truncated": "the image data ends early",
    "corrupt": "the image data could not be decoded",
    "animated": "more than one frame (animation or multi-page)",
    "unsupported_mode": "a pixel format we do not convert (float or 32-bit samples)",
    "verify_failed": "the scrubbed PNG did not read back clean",
    "duplicate": "same scrubbed pixels as an image already in the dataset",
    "removed_on_request": "removed from this dataset by `peekless dataset forget`",
    "small_person_only": "only persons below the rule's threshold (rule drops these)",
    "class_conflict": "the same picture is under both person/ and no_person/",
    # found by the folder walk (training/ingest/walk.py), never decoded
    "not_a_file": "not a regular file (a pipe, socket or device)",
    "outside_symlink": "a link to outside the input folder (--follow-symlinks builds it)",
    "symlink_loop": "a link that leads back into a folder it is in",
    "dangling_symlink": "a link to something that does not exist",
    "unreadable_folder": "a folder that could not be listed",
    "stray_file": "a file at the root, outside person/ and no_person/",
    "unknown_folder": "a folder at the root other than person/ and no_person/",
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Leading bytes of the allowed formats: a file that starts like one but does not open is
# corrupt, not of an unknown format.
_MAGIC = (b"\xff\xd8\xff", _PNG_SIGNATURE, b"GIF87a", b"GIF89a", b"II*\0", b"MM\0*", b"BM")
_CLEAN_CHUNKS = {b"IHDR", b"IDAT", b"IEND"}
# Decoded modes that hold gray pictures: they stay gray until the dataset's mode is chosen.
_GRAY_MODES = {"L", "LA", "La", "1", "I", "I;16", "I;16B", "I;16L", "I;16N"}
# info keys that describe the encoding, not the picture or the person who took it
_CODING_KEYS = {
    "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive",
    "progression", "adobe", "adobe_transform", "interlace", "gamma", "aspect", "compression",
    "transparency", "loop", "duration", "background", "version", "srgb", "chromaticity",
    "mpoffset", "mp", "resolution", "lossless", "palette", "extension", "timestamp",
}  # fmt: skip
_METADATA_KINDS = {
    "exif": "exif",
    "icc_profile": "icc",
    "comment": "comment",
    "comments": "comment",
    "xmp": "xmp",
    "XML:com.adobe.xmp": "xmp",
    "photoshop": "iptc",
    "iptc": "iptc",
}


class IngestError(Exception):
    """A file that cannot enter the dataset; ``reason`` is a key of ``REASONS``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        super().__init__(f"{reason}: {detail or REASONS[reason]}")
        self.reason = reason
        self.detail = detail or REASONS[reason]


@dataclass(frozen=True)
class Scrubbed:
    """Clean pixels and what was left behind."""

    pixels: np.ndarray  # uint8 [size, size, channels]
    sha256: str  # of pixels.tobytes(): the same identity the synthetic manifest uses
    source_sha256: str  # of the source file's bytes
    content_sha256: str  # of the full-size picture (``content_digest``): any lossless copy
    stripped: tuple[str, ...]  # metadata kinds the source carried: exif, icc, xmp, ...


def pixels_sha256(pixels: np.ndarray) -> str:
    """sha256 (hex) of a C-contiguous uint8 array's bytes."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def content_digest(img: Image.Image) -> str:
    """sha256 of an oriented, converted picture at full size, as RGB with its size: the
    same for every lossless copy, whatever its format, metadata or gray/RGB storage."""
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    h = hashlib.sha256(b"peekless-content-v1:%dx%d:" % rgb.size)
    h.update(rgb.tobytes())
    return h.hexdigest()


def read_source(path: Path) -> bytes:
    """The file's bytes, or IngestError(missing/unreadable/empty/too_large)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError("too_large", f"{size} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise IngestError("missing") from None
    except OSError as e:
        raise IngestError("unreadable", type(e).__name__) from None


def scrub_bytes(data: bytes, size: int, channels: int, max_pixels: int = MAX_PIXELS) -> Scrubbed:
    """Decode ``data`` to uint8 [size, size, channels] pixels (1 = gray, 3 = RGB).

    The whole frame is resized to a square without cropping, as the Visual Wake Words
    reference does, so a label computed on the full image still holds. The resize works
    from the full-size decode, so the pixels depend only on the picture (a lossless copy
    scrubs to the same pixels), not on how the file stored it.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if not data:
        raise IngestError("empty")
    img = _open(data, max_pixels)
    try:
        img.load()
        stripped = _metadata_kinds(img)
        img = ImageOps.exif_transpose(img)
        img = _to_mode(img, "L" if img.mode in _GRAY_MODES else "RGB")
        content = content_digest(img)
        mode = "L" if channels == 1 else "RGB"
        img = img.convert(mode) if img.mode != mode else img
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    except IngestError:
        raise
    except OSError as e:
        reason = "truncated" if "truncat" in str(e).lower() else "corrupt"
        raise IngestError(reason, f"{type(e).__name__}: {e}") from None
    except Exception as e:  # noqa: BLE001  any decoder failure skips the file, never the build
        raise IngestError("corrupt", f"{type(e).__name__}: {e}") from None
    # The rebuild: a new array holds the pixels and nothing else.
    pixels = np.array(img, dtype=np.uint8).reshape(size, size, channels)
    return Scrubbed(
        pixels, pixels_sha256(pixels), hashlib.sha256(data).hexdigest(), content, stripped
    )


def scrub_file(path: Path, size: int, channels: int, max_pixels: int = MAX_PIXELS) -> Scrubbed:
    """``scrub_bytes`` of a file's contents."""
    return scrub_bytes(read_source(path), size, channels, max_pixels)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as e:
        raise IngestError("decompression_bomb", str(e)) from None
    except UnidentifiedImageError:
        if data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise IngestError("corrupt", "header of a known format that does not parse") from None
        raise IngestError("unknown_format") from None
    except Exception as e:  # noqa: BLE001  a header so broken the format plugin gave up
        raise IngestError("corrupt", f"{type(e).__name__}: {e}") from None
    w, h = img.size
    if w * h > max_pixels:
        raise IngestError("decompression_bomb", f"{w}x{h} exceeds {max_pixels} pixels")
    if w < 1 or h < 1:
        raise IngestError("corrupt", f"size {w}x{h}")
    try:
        frames = getattr(img, "n_frames", 1) if img.format != "MPO" else 1
    except Exception as e:  # noqa: BLE001  counting frames parses the whole file
        raise IngestError("corrupt", f"{type(e).__name__}: {e}") from None
    if frames > 1:
        raise IngestError("animated", f"{frames} frames")
    return img


def _metadata_kinds(img: Image.Image) -> tuple[str, ...]:
    """Kinds of metadata in the source, for the report (keys only, never values)."""
    kinds = set()
    for key in img.info:
        if key in _METADATA_KINDS:
            kinds.add(_METADATA_KINDS[key])
        elif key not in _CODING_KEYS:
            kinds.add("text" if img.format == "PNG" else "other")
    tags = getattr(img, "tag_v2", None)  # TIFF keeps its metadata in tags, not info
    if tags:
        kinds.add("tiff_tags")
    return tuple(sorted(kinds))


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Any decoded mode to "L" or "RGB", scaling deep samples rather than clipping them."""
    if img.mode.startswith("I;16") or img.mode == "I":
        # Pillow's convert("L") clips 16-bit values at 255; scale 0..65535 to 0..255.
        a = np.asarray(img).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise IngestError("unsupported_mode", f"{img.mode} samples outside 0..65535")
        img = Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L")
    elif img.mode == "F":
        raise IngestError("unsupported_mode", "floating-point samples")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,)), rgba)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, P, 1, ...
    return img.convert(mode) if img.mode != mode else img


# --------------------------------------------------------------------------- output


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of uint8 [H, W, 1|3] pixels with IHDR, IDAT and IEND chunks only."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)  # a fresh image: no icc_profile, pnginfo or exif
    return buf.getvalue()


def png_chunk_types(data: bytes) -> list[bytes]:
    """Chunk types of a PNG in order; ValueError on a bad signature, CRC or trailing data."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG")
    types, pos = [], len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"truncated chunk at byte {pos}")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if len(body) != length or zlib.crc32(ctype + body) != crc:
            raise ValueError(f"bad {ctype!r} chunk at byte {pos}")
        types.append(ctype)
        pos += 12 + length
        if ctype == b"IEND" and pos != len(data):
            raise ValueError(f"{len(data) - pos} bytes after IEND")
    return types


def check_clean_png(data: bytes, pixels: np.ndarray) -> None:
    """IngestError(verify_failed) unless ``data`` is a bare PNG of exactly ``pixels``."""
    try:
        types = png_chunk_types(data)
        extra = sorted({t.decode("latin-1") for t in types} - {t.decode() for t in _CLEAN_CHUNKS})
        if extra or types[0] != b"IHDR" or types[-1] != b"IEND":
            raise ValueError(f"chunks {[t.decode('latin-1') for t in types]}")
        with Image.open(io.BytesIO(data), formats=("PNG",)) as img:
            if img.info:
                raise ValueError(f"decoder reports metadata {sorted(img.info)}")
            back = np.asarray(img).reshape(pixels.shape)
    except (ValueError, OSError) as e:
        raise IngestError("verify_failed", str(e)) from None
    if not np.array_equal(back, pixels):
        raise IngestError("verify_failed", "pixels differ after read-back")


def clean_png(pixels: np.ndarray) -> bytes:
    """``encode_png`` followed by ``check_clean_png``: bytes that are safe to write."""
    png = encode_png(pixels)
    check_clean_png(png, pixels)
    return png


def write_png_checked(path: Path, png: bytes) -> None:
    """Write checked PNG bytes, then read the file back: it must hold exactly those bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    if path.read_bytes() != png:
        raise IngestError("verify_failed", f"{path} does not read back as written")


def write_verified_png(path: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` as a bare PNG, checked before writing and read back after."""
    write_png_checked(path, clean_png(pixels))
