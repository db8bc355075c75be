"""Rewriting the generated blocks of RESULTS.md, the parts between two marker comments.

Example:
    >>> replace_block("a <!--b--> old <!--e--> z", "<!--b-->", "<!--e-->", "new")
    'a <!--b-->\\nnew\\n<!--e--> z'
"""

from __future__ import annotations

from pathlib import Path


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
