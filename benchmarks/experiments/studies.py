"""What the study scripts share: their command line, and rewriting the generated blocks of
RESULTS.md (the parts between two marker comments).

Example:
    >>> replace_block("a <!--b--> old <!--e--> z", "<!--b-->", "<!--e-->", "new")
    'a <!--b-->\\nnew\\n<!--e--> z'
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

import torch


def replace_block(text: str, begin: str, end: str, content: str) -> str:
    """``text`` with what stands between the markers ``begin`` and ``end`` replaced."""
    head, found, rest = text.partition(begin)
    if not found:
        return text
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{content}\n{end}{tail}"


def rewrite_block(path: Path, begin: str, end: str, content: str) -> None:
    """Replace the block between ``begin`` and ``end`` in the file at ``path``."""
    path.write_text(replace_block(path.read_text(), begin, end, content))


def parse_study_args(
    doc: str, recipes: Iterable[str], argv: list[str] | None
) -> tuple[argparse.Namespace, list[str]]:
    """A study's arguments (--report, --recipes, --quiet) and the recipes to run, checked
    against ``recipes``; the runs use one torch thread."""
    known = list(recipes)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="no training: the table only")
    parser.add_argument("--recipes", help="comma-separated recipes to run (all)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    chosen = args.recipes.split(",") if args.recipes else known
    unknown = [r for r in chosen if r not in known]
    if unknown:
        parser.error(f"--recipes: expected some of {', '.join(known)}, got {unknown}")
    torch.set_num_threads(1)
    return args, chosen
