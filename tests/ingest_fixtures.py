"""Generated image corpora for the ingest tests: metadata-laden, awkward and broken files.

JPEG and PNG metadata is written byte by byte (segments, chunks, a hand-built EXIF TIFF
with GPS, MakerNote and a thumbnail), not through Pillow's save options, so those files
carry what a camera or an editor would leave, whatever Pillow can write; TIFF and WebP
tags go through Pillow's writers. Every secret is an ASCII marker that tests search for.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from training.ingest.build import BuildOptions
from training.ingest.folders import build_folders

SECRETS = {
    "exif_text": b"EXIF-DESCRIPTION-SECRET",
    "artist": b"EXIF-ARTIST-SECRET",
    "makernote": b"MAKERNOTE-SECRET-SERIAL-0451",
    "user_comment": b"USERCOMMENT-SECRET",
    "gps_ref": b"N",  # too short to search for; GPS is checked through the IFD instead
    "thumbnail": b"THUMBNAIL-SECRET",
    "xmp": b"XMP-SECRET-CREATOR",
    "iptc": b"IPTC-SECRET-BYLINE",
    "icc": b"ICC-SECRET-PROFILE",
    "comment": b"JPEG-COMMENT-SECRET",
    "png_text": b"PNG-TEXT-SECRET",
    "png_itxt": b"PNG-ITXT-SECRET",
    "png_ztxt": b"PNG-ZTXT-SECRET",
    "private": b"PRIVATE-CHUNK-SECRET",
    "trailing": b"TRAILING-SECRET-ACROPALYPSE",
    "tiff_desc": b"TIFF-DESCRIPTION-SECRET",
}
SEARCHABLE = [v for k, v in SECRETS.items() if k != "gps_ref"]
GPS_LATITUDE = ((52, 1), (22, 1), (3312, 100))  # the rational triples a phone writes


def pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Random RGB noise: any wrong rotation or flip changes it."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def quadrants(h: int, w: int) -> np.ndarray:
    """Four flat colours (red, green / blue, white): orientation survives JPEG and resizing."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[: h // 2, : w // 2] = (220, 20, 20)
    img[: h // 2, w // 2 :] = (20, 200, 20)
    img[h // 2 :, : w // 2] = (20, 20, 220)
    img[h // 2 :, w // 2 :] = (240, 240, 240)
    return img


# Oriented -> stored, from the EXIF definition of each orientation (not from Pillow).
STORE_FOR_ORIENTATION = {
    1: lambda p: p,
    2: lambda p: p[:, ::-1],
    3: lambda p: p[::-1, ::-1],
    4: lambda p: p[::-1],
    5: lambda p: p.transpose(1, 0, 2),
    6: lambda p: np.rot90(p, 1),  # shown after a 90 degree clockwise turn
    7: lambda p: np.rot90(p.transpose(1, 0, 2), 2),
    8: lambda p: np.rot90(p, -1),  # shown after a 90 degree counter-clockwise turn
}


def encode(pixels: np.ndarray, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, fmt, **params)
    return buf.getvalue()


# --------------------------------------------------------------------------- EXIF (TIFF)


def _pack_ifd(entries: list[tuple[int, int, int, bytes]], base: int) -> tuple[bytes, bytes]:
    """Little-endian IFD at offset ``base``: (entries + next pointer space, data area)."""
    data_start = base + 2 + 12 * len(entries) + 4
    head, data = struct.pack("<H", len(entries)), b""
    for tag, typ, count, payload in sorted(entries):
        if len(payload) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, typ, count, data_start + len(data))
            data += payload + b"\0" * (len(payload) % 2)
    return head, data


def _ascii(tag: int, text: bytes) -> tuple[int, int, int, bytes]:
    return (tag, 2, len(text) + 1, text + b"\0")


def exif_tiff(orientation: int = 1, thumbnail: bytes | None = None) -> bytes:
    """EXIF as TIFF bytes: IFD0 (description, artist, orientation), Exif IFD (MakerNote,
    UserComment), GPS IFD (latitude, longitude) and IFD1 with a JPEG thumbnail."""
    rationals = b"".join(struct.pack("<II", n, d) for n, d in GPS_LATITUDE)
    exif_entries = [
        (0x927C, 7, len(SECRETS["makernote"]), SECRETS["makernote"]),
        (0x9286, 7, 8 + len(SECRETS["user_comment"]), b"ASCII\0\0\0" + SECRETS["user_comment"]),
    ]
    gps_entries = [
        _ascii(0x0001, b"N"),
        (0x0002, 5, 3, rationals),
        _ascii(0x0003, b"E"),
        (0x0004, 5, 3, rationals),
    ]

    def ifd0(exif_off: int, gps_off: int) -> list:
        return [
            _ascii(0x010E, SECRETS["exif_text"]),
            _ascii(0x013B, SECRETS["artist"]),
            (0x0112, 3, 1, struct.pack("<H", orientation)),
            (0x8769, 4, 1, struct.pack("<I", exif_off)),
            (0x8825, 4, 1, struct.pack("<I", gps_off)),
        ]

    thumb = thumbnail or b""

    def ifd1(thumb_off: int) -> list:
        return [
            (0x0201, 4, 1, struct.pack("<I", thumb_off)),
            (0x0202, 4, 1, struct.pack("<I", len(thumb))),
        ]

    def layout(
        exif_off: int, gps_off: int, ifd1_off: int, thumb_off: int
    ) -> tuple[bytes, list[int]]:
        out, offsets = b"II*\0" + struct.pack("<I", 8), []
        blocks = [
            ifd0(exif_off, gps_off),
            exif_entries,
            gps_entries,
            ifd1(thumb_off) if thumb else None,
        ]
        for i, entries in enumerate(blocks):
            if entries is None:
                continue
            offsets.append(len(out))
            head, data = _pack_ifd(entries, len(out))
            nxt = ifd1_off if i == 0 and thumb else 0
            out += head + struct.pack("<I", nxt) + data
        offsets.append(len(out))
        return out + thumb, offsets

    _, off = layout(0, 0, 0, 0)  # sizes do not depend on the pointer values
    tiff, off2 = layout(off[1], off[2], off[3] if thumb else 0, off[-1])
    assert off == off2
    return tiff


def thumbnail_jpeg() -> bytes:
    """A small JPEG of other content, marked with its own secret comment."""
    return encode(pattern(16, 16, seed=99), "JPEG", quality=80, comment=SECRETS["thumbnail"])


# --------------------------------------------------------------------------- JPEG


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_metadata_segments(orientation: int = 1) -> list[bytes]:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="52,22.5N" '
        b'dc:creator="' + SECRETS["xmp"] + b'"/></x:xmpmeta>'
    )
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(SECRETS["iptc"])) + SECRETS["iptc"]
    bim = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iptc)) + iptc
    bim += b"\0" * (len(iptc) % 2)
    icc = b"\0\0\x02\x00ICC-PROFILE-HEADER" + SECRETS["icc"] + b"\0" * 64
    return [
        _segment(0xE1, b"Exif\0\0" + exif_tiff(orientation, thumbnail_jpeg())),
        _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp),
        _segment(0xED, b"Photoshop 3.0\0" + bim),
        _segment(0xE2, b"ICC_PROFILE\0\x01\x01" + icc),
        _segment(0xFE, SECRETS["comment"]),
    ]


def jpeg_with_metadata(
    pixels: np.ndarray, orientation: int = 1, quality: int = 90
) -> tuple[bytes, bytes]:
    """(laden JPEG, the same JPEG without any metadata) - identical compressed pixels."""
    clean = encode(pixels, "JPEG", quality=quality)
    assert clean[:2] == b"\xff\xd8"
    laden = clean[:2] + b"".join(jpeg_metadata_segments(orientation)) + clean[2:]
    laden += SECRETS["trailing"] + encode(pattern(8, 8, seed=7), "PNG")  # aCropalypse-style tail
    return laden, clean


# --------------------------------------------------------------------------- PNG


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_with_metadata(pixels: np.ndarray, orientation: int = 1) -> tuple[bytes, bytes]:
    """(laden PNG, clean PNG): eXIf, iCCP, tEXt, zTXt, iTXt, tIME, a private chunk, text
    after IDAT, and trailing bytes after IEND."""
    clean = encode(pixels, "PNG")
    ihdr_end = 8 + 25
    before = b"".join(
        [
            png_chunk(b"eXIf", exif_tiff(orientation, thumbnail_jpeg())),
            png_chunk(b"iCCP", b"secret icc\0\0" + zlib.compress(b"ICC-HEADER" + SECRETS["icc"])),
            png_chunk(b"tEXt", b"Author\0" + SECRETS["png_text"]),
            png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(SECRETS["png_ztxt"])),
            png_chunk(
                b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + SECRETS["png_itxt"] + SECRETS["xmp"]
            ),
            png_chunk(b"tIME", struct.pack(">HBBBBB", 2024, 5, 17, 8, 30, 0)),
            png_chunk(b"prVt", SECRETS["private"]),
        ]
    )
    iend = clean.rindex(b"IEND") - 4
    after = png_chunk(b"tEXt", b"Location\0" + SECRETS["png_text"] + b" 52.37N 4.89E")
    laden = clean[:ihdr_end] + before + clean[ihdr_end:iend] + after + clean[iend:]
    return laden + SECRETS["trailing"], clean


# --------------------------------------------------------------------------- TIFF, WebP


def tiff_with_metadata(pixels: np.ndarray, orientation: int = 1) -> tuple[bytes, bytes]:
    icc = b"ICC-HEADER" + SECRETS["icc"] + b"\0" * 64
    info = {
        270: SECRETS["tiff_desc"].decode(),
        315: SECRETS["artist"].decode(),
        274: orientation,
        700: b"<x:xmpmeta>" + SECRETS["xmp"] + b"</x:xmpmeta>",
    }
    laden = encode(pixels, "TIFF", tiffinfo=info, icc_profile=icc) + SECRETS["trailing"]
    return laden, encode(pixels, "TIFF")


def webp_with_metadata(pixels: np.ndarray) -> tuple[bytes, bytes]:
    icc = b"ICC-HEADER" + SECRETS["icc"] + b"\0" * 64
    exif = b"Exif\0\0" + exif_tiff(1, thumbnail_jpeg())
    xmp = b"<x:xmpmeta>" + SECRETS["xmp"] + b"</x:xmpmeta>"
    laden = encode(pixels, "WEBP", lossless=True, exif=exif, icc_profile=icc, xmp=xmp)
    return laden + SECRETS["trailing"], encode(pixels, "WEBP", lossless=True)


# --------------------------------------------------------------------------- awkward and bad


def forged_png_header(width: int, height: int) -> bytes:
    """A tiny PNG that declares a huge size: what a decompression bomb looks like."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def _png16(pixels: np.ndarray, colour: bool) -> bytes:
    h, w = pixels.shape[:2]
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if colour else 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


GRAY16_VALUES = (0, 1000, 32768, 65535)  # scaled, not clipped: 0, 4, 128, 255


def awkward_files() -> dict[str, bytes]:
    """Unusual files that are still good images and must be built."""
    gray16 = np.repeat(np.array(GRAY16_VALUES, dtype=np.uint16)[None], 8, axis=0)
    rgb48 = np.full((8, 8, 3), 0x8000, dtype=np.uint16)

    def to_palette(rgb: np.ndarray) -> Image.Image:
        return Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)

    palette = to_palette(quadrants(16, 16))
    transparent = Image.fromarray(np.zeros((8, 8, 4), dtype=np.uint8))  # all transparent
    buf = {}
    # distinct pictures, or the build would rightly drop some as duplicates
    for name, img, fmt in (
        ("palette.png", palette, "PNG"),
        ("transparent.png", transparent, "PNG"),
        ("palette.gif", to_palette(quadrants(16, 16)[::-1]), "GIF"),
        ("bitmap.bmp", Image.fromarray(quadrants(16, 16)[:, ::-1]), "BMP"),
        ("bilevel.png", palette.convert("1"), "PNG"),
    ):
        b = io.BytesIO()
        img.save(b, fmt)
        buf[name] = b.getvalue()
    cmyk = io.BytesIO()
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cmyk, "JPEG", quality=95)  # red
    buf["cmyk.jpg"] = cmyk.getvalue()
    buf["gray16.png"] = _png16(gray16, colour=False)
    buf["rgb48.png"] = _png16(rgb48, colour=True)
    buf["png_named.jpg"] = encode(pattern(12, 12, seed=5), "PNG")  # the name lies; content decides
    buf["rgba.webp"] = encode(
        np.dstack([pattern(8, 8, 6), np.full((8, 8), 255, np.uint8)]), "WEBP", lossless=True
    )
    return buf


def bad_files() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, the skip reason the build must give)."""
    jpeg = encode(pattern(64, 64, seed=11), "JPEG", quality=90)
    png = encode(pattern(64, 64, seed=12), "PNG")
    corrupt_png = bytearray(png)
    corrupt_png[png.index(b"IDAT") + 20] ^= 0xFF  # breaks the chunk CRC
    frames = [Image.fromarray(pattern(8, 8, seed=s)) for s in range(3)]
    gif, apng, webp, tiff = io.BytesIO(), io.BytesIO(), io.BytesIO(), io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:])
    frames[0].save(webp, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    frames[0].save(tiff, "TIFF", save_all=True, append_images=frames[1:])
    ico = io.BytesIO()
    frames[0].save(ico, "ICO")
    float_tiff = io.BytesIO()
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(float_tiff, "TIFF")
    return {
        "zero.jpg": (b"", "empty"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "truncated.png": (png[: len(png) // 2], "truncated"),
        "corrupt.png": (bytes(corrupt_png), "corrupt"),
        "corrupt_header.jpg": (b"\xff\xd8\xff\xc0\x00\x11\x08" + b"\x00" * 40, "corrupt"),
        "bomb.png": (forged_png_header(30000, 30000), "decompression_bomb"),
        "bomb_under_pillow_limit.png": (forged_png_header(8000, 6000), "decompression_bomb"),
        "animated.gif": (gif.getvalue(), "animated"),
        "animated.png": (apng.getvalue(), "animated"),
        "animated.webp": (webp.getvalue(), "animated"),
        "multipage.tif": (tiff.getvalue(), "animated"),
        "notes.txt": (b"not an image at all\n", "unknown_format"),
        "icon.ico": (ico.getvalue(), "unknown_format"),
        "float.tif": (float_tiff.getvalue(), "unsupported_mode"),
    }


# --------------------------------------------------------------------------- COCO


def write_coco(
    root: Path,
    images: list[dict],
    annotations: list[dict],
    name: str = "instances_test.json",
    person_id: int = 7,
    image_dir: str = "",
) -> Path:
    """A COCO instances file plus distinct solid-pattern JPEGs for each image entry.

    images: dicts with id, width, height (file_name, licence and URLs are filled in).
    annotations: dicts with image_id, bbox, and optional category ("person" default),
    iscrowd, area.
    """
    cats = [{"id": 3, "name": "dog"}, {"id": person_id, "name": "person"}]
    licences = [
        {
            "id": 1,
            "name": "Attribution License",
            "url": "http://creativecommons.org/licenses/by/2.0/",
        },
        {"id": 4, "name": "Attribution-NonCommercial License", "url": ""},
    ]
    out_images = []
    for im in images:
        fname = im.get("file_name", f"img_{im['id']:06d}.jpg")
        out_images.append(
            {
                "id": im["id"],
                "width": im["width"],
                "height": im["height"],
                "file_name": fname,
                "license": im.get("license", 1),
                "flickr_url": f"http://farm.example/{im['id']}.jpg",
            }
        )
        if im.get("write", True):
            path = root / image_dir / fname
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                encode(pattern(im["height"], im["width"], seed=im["id"]), "JPEG", quality=85)
            )
    anns = []
    for i, a in enumerate(annotations):
        x, y, w, h = a["bbox"]
        cat = person_id if a.get("category", "person") == "person" else 3
        anns.append(
            {
                "id": i + 1,
                "image_id": a["image_id"],
                "category_id": cat,
                "bbox": [x, y, w, h],
                "area": a.get("area", w * h),
                "iscrowd": a.get("iscrowd", 0),
            }
        )
    path = root / name
    path.write_text(
        json.dumps(
            {"images": out_images, "annotations": anns, "categories": cats, "licenses": licences}
        )
    )
    return path


# --------------------------------------------------------------------------- folders


def make_folders(root: Path) -> tuple[dict[str, str | None], dict[str, str]]:
    """person/ and no_person/ with contributors, laden, awkward, bad and duplicate files.

    Returns ({good file: contributor}, {bad file: skip reason}), paths relative to root."""
    good = {}

    def put(rel: str, data: bytes, who=None) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        good[rel] = who

    put("person/alice/alice_at_home.jpg", jpeg_with_metadata(pattern(60, 80, 1))[0], "alice")
    put("person/alice/a2.png", encode(pattern(30, 30, 2), "PNG"), "alice")
    put("person/bob/b1.jpg", encode(pattern(40, 50, 3), "JPEG"), "bob")
    put("person/default.jpg", encode(pattern(40, 40, 4), "JPEG"), "carol")
    put("no_person/alice/n1.jpg", encode(pattern(50, 40, 5), "JPEG"), "alice")
    put("no_person/n2.webp", encode(pattern(32, 32, 6), "WEBP", lossless=True), "carol")
    for name, data in awkward_files().items():
        put(f"no_person/awkward/{name}", data, "awkward")
    bad = {}
    for i, (name, (data, reason)) in enumerate(sorted(bad_files().items())):
        rel = f"{'person' if i % 2 else 'no_person'}/{name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        bad[rel] = reason
    dup = root / "person/copy_of_b1.jpg"  # same bytes as bob's, found after them: a duplicate
    dup.write_bytes((root / "person/bob/b1.jpg").read_bytes())
    bad["person/copy_of_b1.jpg"] = "duplicate"
    return good, bad


def build(root: Path, out: Path, workers: int = 0, **kw) -> Path:
    """build_folders with the test licence, consent and a 24 px gray output."""
    kw.setdefault("contributor", "carol")
    opts = BuildOptions(size=24, workers=workers)
    return build_folders(root, out, "CC-BY-4.0", "signed release forms, 2024-05", opts=opts, **kw)


_SKIP_LINE = re.compile(r"^  skipped #(\d+) (\w+) \((.*)\): (.*)$")


def build_logged(root: Path, out: Path, **kw) -> tuple[Path, dict[str, tuple[int, str]], list]:
    """``build``, also returning what the terminal showed: {path relative to root: (input
    number, reason)} of every skipped input, and all the lines."""
    lines: list[str] = []
    manifest = build(root, out, echo=lines.append, **kw)
    return manifest, parse_skips(lines, root), lines


def parse_skips(lines: list[str], root: Path) -> dict[str, tuple[int, str]]:
    """{path relative to root: (input number, reason)} from a build's terminal lines."""
    found = {}
    for line in lines:
        m = _SKIP_LINE.match(line)
        if m:
            rel = Path(m.group(4)).relative_to(root).as_posix()
            found[rel] = (int(m.group(1)), m.group(2))
    return found
