"""Build src/inkbench/data/corpus/english.txt: English sentences from stdlib docstrings.

The sentences give synthetic lines real English word sequences without a download. The
output is committed, so generation does not depend on the Python patch version; rerunning
this script on the same Python gives the same file. Modules are parsed with ``ast`` rather
than imported, so no stdlib module's import side effects run (``antigravity`` opens a
browser).

Usage: python scripts/build_corpus.py [--max-bytes 280000]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import inspect
import re
import string
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/inkbench/data/corpus/english.txt"
SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "turtledemo", "__pycache__"}
PRINTABLE = set(" " + string.ascii_letters + string.digits + string.punctuation)
# A prose word: letters (an optional capital first, or an acronym), apostrophes or hyphens
# inside, and optional quotes, brackets or punctuation around it. Code is not prose.
WORD = re.compile(
    r"""^[("']?(?:[A-Za-z][a-z]*|[A-Z]+s?|\d+)(?:['-][a-z]+)*[)"']?[,;:.?!]?[)"']?$"""
)
SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def stdlib_sources() -> Iterator[Path]:
    """Source files of the standard library's public top-level modules and packages."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for name in sorted(sys.stdlib_module_names):
        if (root / f"{name}.py").is_file():
            yield root / f"{name}.py"
        elif (root / name).is_dir():
            for path in sorted((root / name).rglob("*.py")):
                if not SKIP_DIRS & set(path.relative_to(root).parts):
                    yield path


def docstrings(path: Path) -> Iterator[str]:
    """Docstrings of the module and its classes and functions, in source order."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield inspect.cleandoc(doc)


def prose_sentences(doc: str) -> Iterator[str]:
    """Sentences of the docstring's prose paragraphs (not examples, tables or lists)."""
    for paragraph in doc.split("\n\n"):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", ">>>", "-", "*", "|", "+")) for line in lines):
            continue
        for sentence in SENTENCE_END.split(" ".join(line.strip() for line in lines)):
            if is_prose(sentence):
                yield sentence


def is_prose(sentence: str) -> bool:
    """A plain English sentence: printable ASCII, mostly lowercase words, no code tokens."""
    words = sentence.split()
    return (
        25 <= len(sentence) <= 200
        and set(sentence) <= PRINTABLE
        and sentence[0].isupper()
        and sentence.endswith((".", "?", "!"))
        and len(words) >= 5
        and all(WORD.match(word) for word in words)
        and sum(word.isalpha() and word.islower() for word in words) >= 0.6 * len(words)
    )


def build(max_bytes: int) -> list[str]:
    """Unique prose sentences; when over budget, a fixed hash-ordered subset. Sorted."""
    sentences = dict.fromkeys(
        s for path in stdlib_sources() for doc in docstrings(path) for s in prose_sentences(doc)
    )
    kept, size = [], 0
    for sentence in sorted(sentences, key=lambda s: hashlib.blake2b(s.encode()).digest()):
        size += len(sentence) + 1
        if size > max_bytes:
            break
        kept.append(sentence)
    return sorted(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bytes", type=int, default=280_000)
    args = parser.parse_args()
    sentences = build(args.max_bytes)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    print(f"{OUT}: {len(sentences)} sentences, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
