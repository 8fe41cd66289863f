"""What a translated Markdown piece must give back unchanged: inline code, link and image
targets, the HTML attributes that address something (href, src, id, name), a heading's own id
(`## Title {#install}`, as MkDocs' attr_list and Pandoc write it) and inline math.

`restore` puts link targets back by position when a model rewrote them but kept the links;
anything else missing is a problem, and the piece is kept in its source language.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["restore"]

# [text](dest "title") and ![alt](dest): the destination, with one level of brackets in it.
_LINK = re.compile(
    r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*)(<[^>\n]*>|[^\s()]+(?:\([^\s()]*\)[^\s()]*)*)"
)
_REFERENCE = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(\S+)", re.M)
_ATTRIBUTE = re.compile(r"""\b(?:href|src|id|name)\s*=\s*("[^"]*"|'[^']*')""", re.I)
_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_HEADING_ID = re.compile(r"\{#[^\s}]+[^}\n]*\}")
_MATH = re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$(?!\$)")


def _missing(pattern: re.Pattern[str], group: int, source: str, translation: str) -> list[str]:
    wanted = Counter(m.group(group) for m in pattern.finditer(source))
    found = Counter(m.group(group) for m in pattern.finditer(translation))
    return sorted((wanted - found).elements())


def _put_back(pattern: re.Pattern[str], source: str, translation: str) -> str:
    """Each target in the translation replaced by the source's, in order (same count only)."""
    targets = [m.group(2) for m in pattern.finditer(source)]
    if len(targets) != len(pattern.findall(translation)):
        return translation
    it = iter(targets)
    return pattern.sub(lambda m: m.group(1) + next(it), translation)


def restore(source: str, translation: str) -> tuple[str, str | None]:
    """(translation with link targets restored, None) or (translation, what went missing)."""
    for pattern in (_LINK, _REFERENCE):
        if _missing(pattern, 2, source, translation):
            translation = _put_back(pattern, source, translation)
    checks = [
        ("link target", _LINK, 2),
        ("link target", _REFERENCE, 2),
        ("HTML attribute", _ATTRIBUTE, 1),
        ("heading id", _HEADING_ID, 0),
        ("inline code", _CODE, 0),
        ("inline math", _MATH, 0),
    ]
    for what, pattern, group in checks:
        if lost := _missing(pattern, group, source, translation):
            return translation, f"the translation changed or dropped the {what} {lost[0]}"
    return translation, None
