"""Checks on one answer that need no reference: is it in the target language, is it the source
copied back, does it echo the instructions, was it cut off, is its length plausible, does it
use the required terms.

Language identification is py3langid's (Lui & Baldwin 2012, langid.py) with normalised
probabilities; names and tags ("French", "fr", "pt-BR") go through `resolve_language`.
"""

from __future__ import annotations

import difflib
import functools
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config.paths import why_unwritable
from ..errors import ConfigError
from .languages import resolve_language

__all__ = [
    "FLAG_NAMES",
    "Flag",
    "check_answer",
    "detect_language",
    "language_name",
    "language_tag",
    "warm_up",
]

# Every flag an answer can carry, in the order the views list them.
FLAG_NAMES = (
    "error",
    "empty",
    "wrong_language",
    "copy",
    "echo",
    "truncated",
    "length",
    "missing_terms",
)
MIN_LETTERS = 12  # below this, language identification and copy checks guess too often
WRONG_LANGUAGE_P = 0.05  # the target language's probability under which an answer is flagged
COPY_RATIO = 0.9  # difflib similarity to the source from which an answer counts as a copy
LENGTH_BAND = (0.5, 2.0)  # answer / reference length; without a reference, answer / source:
LENGTH_BAND_NO_REF = (1 / 3, 3.0)  # wider, since languages differ in length
ECHO_WORDS = 5  # a run of this many words of the instructions, found in the answer, is an echo
# Languages py3langid tells apart poorly: one counts for the others.
_CLOSE = ({"no", "nb", "nn", "da"}, {"hr", "sr", "bs"}, {"zh", "wuu", "yue"}, {"ms", "id"})
_PREAMBLE = re.compile(
    r"^\s*(?:sure|certainly|of course|okay)\b[^\n]{0,40}?(?:[:!.,]|\n)"
    r"|^\s*(?:here(?:'s| is| are)\b[^\n]{0,60}?\btranslat\w*[^\n]{0,30}?:)"
    r"|^\s*(?:translation|translated text)\s*:",
    re.I,
)


@dataclass(frozen=True)
class Flag:
    """One problem found in an answer: `name` (one of FLAG_NAMES) and a short `detail`."""

    name: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}" if self.detail else self.name


# --- languages -------------------------------------------------------------------------------


def language_tag(value: str | None) -> str | None:
    """The base language subtag ("fr", "pt", "zh") of a language name or BCP 47 tag, or None
    when it names no known language."""
    if not value:
        return None
    try:
        return resolve_language(value).tag.split("-")[0].lower()
    except ConfigError:
        return None


def language_name(value: str) -> str:
    """The English name of a tag or name ("pt-BR" -> "Brazilian Portuguese"); the value
    itself when unknown."""
    try:
        return resolve_language(value).english_name
    except ConfigError:
        return value


_identifier: Any = None
_identifier_lock = threading.Lock()


def _langid() -> Any:
    global _identifier
    with _identifier_lock:
        if _identifier is None:  # 1–2 s to load: only when the first answer is checked
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            try:
                _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            except OSError as exc:  # it unpacks its model (~70 MB) into a temporary file
                raise ConfigError(
                    "The language check (py3langid) could not unpack its model into the "
                    f"temporary folder {tempfile.gettempdir()}: {why_unwritable(exc)}; or "
                    "point TMPDIR at a folder with room before starting Python."
                ) from None
        return _identifier


def warm_up() -> None:
    """Load the language identifier now (1–2 s), before requests whose timings it would skew."""
    _langid()


def detect_language(text: str) -> list[tuple[str, float]]:
    """Languages by probability, best first (py3langid's ISO 639 codes, probabilities sum to 1)."""
    identifier = _langid()
    with _identifier_lock:  # its scoring buffers are shared
        return [(lang, float(p)) for lang, p in identifier.rank(text)]


def _group(tag: str) -> set[str]:
    return next((group for group in _CLOSE if tag in group), {tag})


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _similar(a: str, b: str, at_least: float = 0.0) -> float:
    """difflib's similarity ratio (0–1), or a bound below `at_least` when the cheap upper
    bounds already rule it out (most answers differ from their source at a glance)."""
    matcher = difflib.SequenceMatcher(None, _normal(a), _normal(b), autojunk=False)
    if matcher.real_quick_ratio() < at_least or matcher.quick_ratio() < at_least:
        return 0.0
    return matcher.ratio()


# --- the checks ------------------------------------------------------------------------------


def _wrong_language(answer: str, target_tag: str | None) -> Flag | None:
    if target_tag is None or _letters(answer) < MIN_LETTERS:
        return None
    ranked = detect_language(answer)
    if target_tag not in {lang for lang, _ in ranked}:
        return None  # a language py3langid does not know: it cannot judge
    group = _group(target_tag)
    p_target = sum(p for lang, p in ranked if lang in group)
    top, p_top = ranked[0]
    if top in group or p_target >= WRONG_LANGUAGE_P:
        return None
    return Flag("wrong_language", f"looks like {top} ({p_top:.0%}), not {target_tag}")


def _copy(answer: str, source: str, reference: str | None) -> Flag | None:
    if _letters(source) < MIN_LETTERS:
        return None
    if reference is not None and _similar(reference, source, COPY_RATIO) >= COPY_RATIO:
        return None  # the reference keeps the source too (names, code, numbers)
    ratio = _similar(answer, source, COPY_RATIO)
    if ratio < COPY_RATIO:
        return None
    return Flag("copy", "same as the source" if ratio == 1 else f"{ratio:.0%} like the source")


@functools.lru_cache(maxsize=64)  # the same instructions are checked against every answer
def _instruction_shingles(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_shingles(text, ECHO_WORDS))


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.casefold())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _echo(answer: str, source: str, instructions: Sequence[str]) -> Flag | None:
    if _PREAMBLE.search(answer) and not _PREAMBLE.search(source):
        return Flag("echo", "adds a preamble")
    said = _shingles(answer, ECHO_WORDS)
    if not said:
        return None
    ours: set[tuple[str, ...]] = set()
    for text in instructions:
        ours |= _instruction_shingles(text)
    echoed = (said & ours) - _shingles(source, ECHO_WORDS)
    if echoed:
        return Flag("echo", "repeats the instructions: “" + " ".join(min(echoed)) + "…”")
    return None


def _length(answer: str, source: str, reference: str | None) -> Flag | None:
    if reference:
        if len(reference) < 10:
            return None
        low, high = LENGTH_BAND
        ratio = len(answer) / len(reference)
        what = "the reference"
    else:
        if len(source) < 10:
            return None
        low, high = LENGTH_BAND_NO_REF
        ratio = len(answer) / len(source)
        what = "the source"
    if low <= ratio <= high:
        return None
    return Flag("length", f"{ratio:.2f}× {what}")


def _missing_terms(answer: str, terms: Sequence[str]) -> Flag | None:
    said = _normal(answer)
    missing = [term for term in terms if term.strip() and _normal(term) not in said]
    return Flag("missing_terms", ", ".join(missing)) if missing else None


def check_answer(
    answer: str,
    *,
    source: str,
    target: str | None,
    reference: str | None = None,
    terms: Sequence[str] = (),
    finish_reason: str | None = None,
    error: str | None = None,
    instructions: Sequence[str] = (),
) -> list[Flag]:
    """Every flag for one answer (an empty list when it looks like a clean translation).

    `target` is a language name or tag; `instructions` the prompt texts the model was given
    (an answer repeating a run of their words echoes them); `terms` must each appear in the
    answer (ignoring case). An answer that failed carries "error" and nothing else.
    """
    if error is not None:
        return [Flag("error", error)]
    if not answer.strip():
        return [Flag("empty")]
    found = [
        _wrong_language(answer, language_tag(target)),
        _copy(answer, source, reference),
        _echo(answer, source, instructions),
        Flag("truncated", "cut off at max tokens") if finish_reason == "length" else None,
        _length(answer, source, reference),
        _missing_terms(answer, terms),
    ]
    return [flag for flag in found if flag is not None]
