import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inkbench.data.pages.image import read_page
from inkbench.errors import InkbenchError


def huge_png(path: Path, side: int) -> Path:
    """A valid 1-bit PNG of ``side`` x ``side`` white pixels, written row by row (a few KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def test_a_20000_pixel_square_png_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = huge_png(tmp_path / "huge.png", 20_000)
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    with pytest.raises(InkbenchError) as error:
        read_page(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "over the limit of 50,000,000 pixels" in message
    assert "\n" not in message
    assert peak < 5_000_000  # decoding would take 400 MB as 8-bit gray


def test_the_pixel_limit_is_an_option(tmp_path: Path) -> None:
    path = huge_png(tmp_path / "wide.png", 300)
    assert read_page(path).shape == (300, 300)
    with pytest.raises(
        InkbenchError, match=r"300 x 300 image \(90,000 pixels\) is over the limit of 80,000"
    ):
        read_page(path, max_pixels=80_000)


def test_non_images_and_truncated_pngs_fail_with_one_line_naming_the_file(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 300), np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (text, cut, tmp_path / "missing.png"):
        with pytest.raises(InkbenchError) as error:
            read_page(path)
        assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


def test_pages_are_gray_uint8_and_turned_upright_by_exif(tmp_path: Path) -> None:
    color = np.zeros((20, 40, 3), np.uint8)
    color[:, :10] = (255, 0, 0)  # a red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; rotate 90 degrees clockwise to view
    path = tmp_path / "photo.jpg"
    Image.fromarray(color).save(path, exif=exif, quality=95)
    page = read_page(path)
    assert page.dtype == np.uint8 and page.shape == (40, 20)
    assert page[:10].mean() > 50 and page[-10:].mean() < 10  # the band is now at the top
