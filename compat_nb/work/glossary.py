"""Terminology: a glossary read from CSV, TSV or JSON, the entries each text needs, the
instruction that carries them, and the check that the model followed it.

A term with no target (or a target equal to its source) is "do not translate": a product
name or a code identifier that must come back as written. A preset names its glossary
(`Preset.glossary`); `preset_terms` reads it once per version of the file and gives each
text the terms it contains, for every entry point that translates.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config.presets import Preset

__all__ = ["Glossary", "Term", "load_glossary", "preset_glossary", "preset_terms", "read_glossary"]

# A first row naming the columns rather than a term (any case): skipped.
_HEADERS = {"source", "source term", "term", "src", "from", "original"}
_WORD = re.compile(r"[A-Za-z0-9]+")  # an ASCII word, as `_pattern`'s boundaries see one
_MAX_BYTES = 5_000_000  # a glossary is a list of terms, not a corpus


@dataclass(frozen=True)
class Term:
    """One glossary entry: `source` is translated as `target`; `target` None keeps it as is."""

    source: str
    target: str | None = None

    @property
    def keep(self) -> bool:
        """Do not translate: the source term must appear unchanged in the translation."""
        return self.target is None or self.target == self.source

    @property
    def required(self) -> str:
        """The text a translation must contain when the source term occurs."""
        return self.source if self.keep else str(self.target)

    @property
    def shown(self) -> str:
        """The entry as a message names it: "slope → pente", or "NumPy (kept as is)"."""
        return f"{self.source} (kept as is)" if self.keep else f"{self.source} → {self.target}"


@functools.lru_cache(maxsize=8192)  # a glossary's patterns, compiled once for every text
def _pattern(term: str, *, inflected: bool) -> re.Pattern[str]:
    """`term` as a whole word, case-insensitively. The word boundary applies only where the
    term begins or ends with a Latin letter or digit: Chinese or Japanese text has no spaces,
    so a boundary there would never match. `inflected` lets a word go on ("model" matches
    "models", "modèle" matches "modèles"): a miss must be a real miss."""
    head = r"(?<![A-Za-z0-9])" if term[:1].isascii() and term[:1].isalnum() else ""
    tail = r"(?![A-Za-z0-9])" if term[-1:].isascii() and term[-1:].isalnum() else ""
    if inflected:
        tail = r"(?:s|es)?" + tail if tail else ""
    return re.compile(head + re.escape(term) + tail, re.IGNORECASE)


@dataclass(frozen=True)
class Glossary:
    """Terms in file order; `source` names where they came from (for messages)."""

    terms: tuple[Term, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.terms)

    def select(self, text: str) -> list[Term]:
        """The terms whose source occurs in text: only these go with that piece's request.

        Only the terms whose first ASCII word (letters and digits) is a word of the text, or
        that word plus "s"/"es", are searched for: a 1,000-term glossary costs each text a
        few candidates, not 1,000 searches. Terms with no such word are always searched."""
        by_word, always = self._index
        candidates = set(always)
        for word in _WORD.findall(text):
            word = word.lower()
            for stem in (word, word[:-1] if word[-1:] == "s" else "", word[:-2]):
                candidates.update(by_word.get(stem, ()))
        return [
            self.terms[i]
            for i in sorted(candidates)
            if _pattern(self.terms[i].source, inflected=True).search(text)
        ]

    @functools.cached_property
    def _index(self) -> tuple[dict[str, list[int]], list[int]]:
        """Term positions by the lower-cased first ASCII word of their source, and those
        with none (other scripts, symbols). A match of a term in a text contains that word as
        a whole word of the text (see `_pattern`'s boundaries), perhaps inflected."""
        by_word: dict[str, list[int]] = {}
        always: list[int] = []
        for i, term in enumerate(self.terms):
            first = _WORD.search(term.source)
            if first:
                by_word.setdefault(first.group().lower(), []).append(i)
            else:
                always.append(i)
        return by_word, always

    @staticmethod
    def instructions(terms: Sequence[Term]) -> str:
        """The prompt lines that carry `terms` (empty when there are none)."""
        fixed = [t for t in terms if not t.keep]
        kept = [t for t in terms if t.keep]
        lines = []
        if fixed:
            lines.append("Translate these terms exactly as given (source → target):")
            lines += [f"- {t.source} → {t.target}" for t in fixed]
        if kept:
            lines.append("Keep these terms unchanged, exactly as written:")
            lines += [f"- {t.source}" for t in kept]
        return "\n".join(lines)

    @staticmethod
    def misses(terms: Iterable[Term], translation: str) -> list[Term]:
        """The terms whose required text is not in the translation."""
        return [t for t in terms if not _pattern(t.required, inflected=True).search(translation)]


def load_glossary(path: str | Path) -> Glossary:
    """A glossary file: CSV or TSV rows `source term, target term` (a row with no target is
    do-not-translate; a header row is skipped), or JSON: an object `{"source": "target" | null}`,
    a list of `{"source": ..., "target": ...}` objects, or `{"terms": {...},
    "do_not_translate": [...]}`. Raises ConfigError naming the file and the line at fault.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"Glossary file {str(path)!r} not found: check the path.") from None
    except OSError as exc:
        raise ConfigError(f"Could not read the glossary {str(path)!r}: {exc.strerror}.") from None
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"Glossary {str(path)!r} is over 5 MB: is it the right file?")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"Glossary {str(path)!r} is not UTF-8 text: save it as UTF-8.") from None
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        terms = _from_json(text, path)
    else:
        terms = _from_rows(text, path)
    if not terms:
        raise ConfigError(f"Glossary {str(path)!r} has no terms: one `source,target` per line.")
    return Glossary(_deduplicated(terms, path), source=str(path))


def _from_rows(text: str, path: Path) -> list[Term]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else ","
    terms = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for number, row in enumerate(reader, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].casefold() in _HEADERS:
            continue
        if any(cells[2:]):
            raise ConfigError(
                f"Glossary {str(path)!r}, line {number}: {len(cells)} columns; give two (source "
                "term, target term) and quote a term that contains the separator."
            )
        if not cells[0]:
            raise ConfigError(f"Glossary {str(path)!r}, line {number}: the source term is empty.")
        terms.append(Term(cells[0], (cells[1] if len(cells) > 1 else "") or None))
    return terms


def _from_json(text: str, path: Path) -> list[Term]:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"Glossary {str(path)!r} is not valid JSON: {exc}.") from None
    if isinstance(data, dict) and ("terms" in data or "do_not_translate" in data):
        keep = data.get("do_not_translate") or []
        if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
            raise ConfigError(f"Glossary {str(path)!r}: do_not_translate is a list of terms.")
        return [*_from_json_terms(data.get("terms") or {}, path), *(Term(k) for k in keep)]
    return _from_json_terms(data, path)


def _from_json_terms(data: Any, path: Path) -> list[Term]:
    bad = ConfigError(
        f'Glossary {str(path)!r}: expected {{"source": "target"}} or a list of '
        '{"source": ..., "target": ...} objects.'
    )
    if isinstance(data, Mapping):
        items = list(data.items())
    elif isinstance(data, list) and all(isinstance(i, Mapping) for i in data):
        items = [(i.get("source"), i.get("target")) for i in data]
    else:
        raise bad
    terms = []
    for source, target in items:
        if not isinstance(source, str) or not source.strip():
            raise bad
        if target is not None and not isinstance(target, str):
            raise bad
        terms.append(Term(source.strip(), (target or "").strip() or None))
    return terms


def _deduplicated(terms: list[Term], path: Path) -> tuple[Term, ...]:
    """One entry per source term (any case); two different targets for one term is an error."""
    seen: dict[str, Term] = {}
    for term in terms:
        key = term.source.casefold()
        if key in seen and seen[key].target != term.target:
            raise ConfigError(
                f"Glossary {str(path)!r} gives {term.source!r} two translations "
                f"({seen[key].target!r} and {term.target!r}): keep one."
            )
        seen.setdefault(key, term)
    # Longer terms first, so "neural network" is chosen before "network" in the prompt.
    return tuple(sorted(seen.values(), key=lambda t: -len(t.source)))


# path -> ((size, mtime_ns), Glossary): a file read once per version, however many texts use it.
_read: dict[str, tuple[tuple[int, int], Glossary]] = {}
_read_lock = threading.Lock()
_KEEP = 32  # files remembered at once


def read_glossary(path: str | os.PathLike[str]) -> Glossary:
    """`load_glossary`, read again only when the file changes (size or modification time)."""
    name = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        stat = os.stat(name)
        version = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        version = (-1, -1)  # load_glossary says what is wrong
    with _read_lock:
        known = _read.get(name)
    if known is not None and known[0] == version:
        return known[1]
    glossary = load_glossary(name)
    with _read_lock:
        if len(_read) >= _KEEP:
            _read.pop(next(iter(_read)))
        _read[name] = (version, glossary)
    return glossary


def preset_glossary(preset: Preset) -> Glossary | None:
    """The glossary `preset` names (None when it names none). ConfigError naming the preset,
    the file and what to do when the file cannot be read as a glossary."""
    if not preset.glossary:
        return None
    try:
        return read_glossary(preset.glossary)
    except ConfigError as exc:
        from ..config import advice

        fix = advice.change_glossary(preset)
        raise ConfigError(
            f"Preset {preset.name!r}: {exc.message} To use another file or none, {fix}."
        ) from None


def preset_terms(preset: Preset, text: str) -> list[Term]:
    """The terms of the preset's glossary that occur in `text` (none without a glossary)."""
    glossary = preset_glossary(preset)
    return glossary.select(text) if glossary else []
