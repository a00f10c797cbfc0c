"""IAM forms read from a tiny copy in the distributed layout (forms/*.png, xml/*.xml)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import inkbench.data  # noqa: F401  (registers the datasets)
from inkbench.data.datasets import DATASETS
from inkbench.errors import InkbenchError

# A form's XML as IAM writes it: the printed prompt, then handwritten lines of words made of
# connected components; text attributes double-escape quotes (&amp;quot; -> &quot; -> ").
FORM_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<form created="2002-01-01" height="{height}" id="{form}" width="{width}" writer-id="{writer}">
<machine-printed-part>
<machine-print-line text="A MOVE to stop Mr. Gaitskell from"/>
</machine-printed-part>
<handwritten-part>
<line asx="0" asy="0" dsx="0" dsy="0" id="{form}-00" text="A MOVE" threshold="154">
<word id="{form}-00-00" tag="AT0" text="A"><cmp height="20" width="10" x="20" y="100"/></word>
<word id="{form}-00-01" tag="NN1" text="MOVE">
<cmp height="18" width="25" x="40" y="102"/>
<cmp height="22" width="20" x="66" y="98"/>
</word>
</line>
<line asx="0" asy="0" dsx="0" dsy="0" id="{form}-01" text="&amp;quot;prop up&amp;quot;">
<word id="{form}-01-00" tag="QUO" text="&amp;quot;prop">
<cmp height="20" width="30" x="22" y="140"/></word>
<word id="{form}-01-01" tag="RP" text="up&amp;quot;">
<cmp height="15" width="20" x="60" y="145"/></word>
</line>
</handwritten-part>
</form>
"""
FORMS = [f"{group}-{n:03d}" for group in ("a01", "b02", "c03") for n in range(12)]


def write_forms(root: Path, forms: list[str] = FORMS) -> Path:
    (root / "forms").mkdir(parents=True)
    (root / "xml").mkdir()
    for i, form in enumerate(forms):
        xml = FORM_XML.format(form=form, writer=f"{i % 5:03d}", width=120, height=220)
        (root / "xml" / f"{form}.xml").write_text(xml, encoding="ISO-8859-1")
        pixels = np.full((220, 120), 255, np.uint8)
        pixels[10:30, 10:110] = 0  # the printed prompt, cropped away
        pixels[i % 200, 0] = 7  # tells the forms apart
        Image.fromarray(pixels).save(root / "forms" / f"{form}.png")
    return root


def build(root: Path, split: str = "train", **options: object):
    return DATASETS.build("iam_forms", split=split, seed=0, path=str(root), **options)


def test_line_and_word_boxes_come_from_the_components_and_the_page_is_cropped(
    tmp_path: Path,
) -> None:
    root = write_forms(tmp_path)
    pages = build(root, "train", crop=False)
    page = pages[0]
    assert page.image.shape == (220, 120) and page.image.dtype == np.uint8
    assert page.labels.tolist() == [0, 0, 1, 1, 1, 1]
    assert page.texts == ("A MOVE", '"prop up"', "A", "MOVE", '"prop', 'up"')
    assert page.boxes.tolist() == [
        [20, 98, 86, 120],  # line 0: union of A and the two components of MOVE
        [22, 140, 80, 160],
        [20, 100, 30, 120],
        [40, 98, 86, 120],
        [22, 140, 52, 160],
        [60, 145, 80, 160],
    ]
    cropped = build(root, "train", crop_margin=8)[0]
    assert cropped.image.shape == (168 - 90, 120)  # rows 98 - 8 to 160 + 8
    assert np.array_equal(cropped.image, page.image[90:168])
    assert np.array_equal(cropped.boxes, page.boxes - np.array([0, 90, 0, 90], np.float32))
    assert (cropped.image[:, 1:] == 255).all()  # the printed prompt is gone
    assert pages.source(0) in {f"{i:03d}" for i in range(5)}


def test_a_resized_scan_gets_its_boxes_scaled(tmp_path: Path) -> None:
    root = write_forms(tmp_path)
    full = build(root, "train", crop=False)
    scan = full.paths[0]
    Image.open(scan).resize((60, 110)).save(scan)  # half the XML's 120 x 220
    half = build(root, "train", crop=False)[0]
    assert half.image.shape == (110, 60)
    assert np.array_equal(half.boxes * 2, full[1].boxes)  # every form has the same boxes


def test_forms_split_by_the_iam_lines_hash_or_by_its_split_lists(tmp_path: Path) -> None:
    root = write_forms(tmp_path)
    by_hash = {s: build(root, s) for s in ("train", "val", "test")}
    sizes = {s: len(d) for s, d in by_hash.items()}
    assert sum(sizes.values()) == len(FORMS) and sizes["train"] > sizes["val"]
    (root / "train.txt").write_text("\n".join(FORMS[:30]) + "\n")
    (root / "val.txt").write_text(f"{FORMS[30]}-00\n{FORMS[30]}-01\n{FORMS[31]}\n")
    (root / "test.txt").write_text(f"# a comment\n{FORMS[32]}-01\n")  # a form by one line
    lists = {"train_list": "train.txt", "val_list": "val.txt", "test_list": "test.txt"}
    listed = {s: build(root, s, **lists) for s in ("train", "val", "test")}
    assert [len(d) for d in listed.values()] == [30, 2, 1]
    assert len(listed["test"][0].texts) == 6  # both lines boxed: they are on the page


def test_a_form_split_between_lists_and_malformed_xml_fail_with_one_line(
    tmp_path: Path,
) -> None:
    root = write_forms(tmp_path, FORMS[:3])
    (root / "a.txt").write_text(f"{FORMS[0]}-00\n")
    (root / "b.txt").write_text(f"{FORMS[0]}-01\n{FORMS[1]}\n")
    (root / "c.txt").write_text(f"{FORMS[2]}\n")
    with pytest.raises(
        InkbenchError, match=r"form a01-000 has lines in data.train_list and data.val_list"
    ):
        build(root, "test", train_list="a.txt", val_list="b.txt", test_list="c.txt")
    (root / "c.txt").write_text("z99-999\n")
    with pytest.raises(InkbenchError, match=r"'z99-999' is neither a line id nor a form id of xml"):
        build(root, "test", train_list="a.txt", val_list="b.txt", test_list="c.txt")
    bad = root / "xml" / f"{FORMS[1]}.xml"
    bad.write_text(bad.read_text(encoding="ISO-8859-1").replace('x="40"', 'x="4o"'))
    with pytest.raises(InkbenchError, match=r"b02-000|a01-001") as error:
        build(root)
    assert "not a whole number" in str(error.value) and "\n" not in str(error.value)
    bad.write_text("<form id='a01-001'><handwritten-part><line")
    with pytest.raises(InkbenchError, match=r"a01-001\.xml:1: not IAM XML"):
        build(root)
    bad.unlink()
    (root / "forms" / f"{FORMS[2]}.png").unlink()
    with pytest.raises(InkbenchError, match=r"a01-002\.png not found"):
        for split in ("train", "val", "test"):
            build(root, split)
    with pytest.raises(InkbenchError, match=r"split 'test_shift'"):
        build(root, "test_shift")


def test_unreadable_scans_are_found_before_training(tmp_path: Path) -> None:
    root = write_forms(tmp_path, FORMS[:12])
    pages = build(root, "train")
    pages.paths[0].write_text("not a scan")
    with pytest.raises(InkbenchError) as error:
        pages.verified(0, "iam_forms train split")
    message = str(error.value)
    assert message.startswith(f"form {pages.forms[0].form_id}: {pages.paths[0]}: not a readable")
    kept = build(root, "train", skip_corrupt=True).verified(0, "iam_forms train split")
    assert len(kept) == len(pages) - 1
