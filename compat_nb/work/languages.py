"""Languages by BCP 47 tag or by name: one resolver for every place a language is taken.

`resolve_language("fr" | "pt-BR" | "French" | "français")` -> `Language`, built on `langcodes`
(tags, BCP 47 normalisation) and `language_data` (CLDR names); an unknown value is a
ConfigError that names the closest known languages.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass

from ..config.urls import hidden_character
from ..errors import ConfigError

__all__ = ["Language", "resolve_language"]


@dataclass(frozen=True)
class Language:
    """A language as a normalised BCP 47 tag (RFC 5646) and its English name from CLDR.

    `tag`: "pt-BR", "zh-Hant", "fr"; `english_name`: "Brazilian Portuguese",
    "Traditional Chinese", "French".
    """

    tag: str
    english_name: str

    @property
    def prompt_name(self) -> str:
        """How a prompt names it: "Brazilian Portuguese (pt-BR)" — the name a model knows best,
        and the tag, which removes any doubt about the variety."""
        return f"{self.english_name} ({self.tag})"

    def __str__(self) -> str:
        return self.english_name


# Looks like a tag (letters and digits in subtags joined by - or _), not a name with spaces.
_TAG_SHAPE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
_PAREN = re.compile(r"^\s*(.+?)\s*\(\s*(.+?)\s*\)\s*$")
# ISO 639 special codes: "undetermined", "no linguistic content", "uncoded", "multiple".
# Invisible marks a name pasted from right-to-left text brings along (RLM, ALM, isolates, BOM,
# zero-width space): they are dropped before the lookup, as a reader would not see them.
_MARKS = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_NOT_A_LANGUAGE = frozenset({"und", "zxx", "mis", "mul"})


# The languages asked for most, as langcodes and CLDR resolve them (a test checks each one
# against them): answering these without importing langcodes and loading CLDR's name tables
# (~120 ms) keeps a notebook's first %%translate quick. Anything else takes the full path.
_COMMON = {
    **{"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian"},
    **{"pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese"},
    **{"ko": "Korean", "ar": "Arabic", "hi": "Hindi", "tr": "Turkish", "pl": "Polish"},
    **{"sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "el": "Greek"},
    **{"cs": "Czech", "hu": "Hungarian", "ro": "Romanian", "uk": "Ukrainian", "he": "Hebrew"},
    **{"id": "Indonesian", "vi": "Vietnamese", "th": "Thai", "fa": "Persian", "ca": "Catalan"},
    **{"pt-BR": "Brazilian Portuguese", "zh-Hans": "Simplified Chinese"},
    **{"zh-Hant": "Traditional Chinese"},
}
_COMMON_LOOKUP = {
    **{tag.casefold(): tag for tag in _COMMON},
    **{name.casefold(): tag for tag, name in _COMMON.items()},
}


def resolve_language(value: str) -> Language:
    """The Language a tag ("pt-BR", "pt_br", "fre") or a name ("French", "Brazilian Portuguese",
    "Portuguese (Brazil)", "Deutsch", "日本語") denotes.

    Tags are normalised as BCP 47 (RFC 5646) with langcodes: case, deprecated codes ("iw" ->
    "he") and three-letter codes that have a two-letter one ("fre" -> "fr"). Names are looked
    up in CLDR's names in every language (language_data). Raises ConfigError naming the closest
    matches when neither works.
    """
    if isinstance(value, str):
        value = _MARKS.sub("", value)
        hidden = hidden_character(value)
        if hidden:  # the names' data would fail on it (a NUL, a lone surrogate)
            raise ConfigError(
                f"A language cannot contain {hidden}, as {value!r} does: give a tag such as "
                "'fr' or 'pt-BR', or a name such as 'French'."
            )
    tag = _COMMON_LOOKUP.get(value.strip().casefold()) if isinstance(value, str) else None
    if tag is not None:
        return Language(tag, _COMMON[tag])
    return _resolve(value)


@functools.lru_cache(maxsize=512)
def _resolve(value: str) -> Language:

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"A language is needed, got {value!r}: give a tag such as 'fr' or 'pt-BR', or a "
            "name such as 'French'."
        )
    text = value.strip()
    tag = _as_tag(text) if _TAG_SHAPE.match(text) else None
    if tag is None:
        tag = _as_name(text)
    if tag is None or tag.split("-")[0] in _NOT_A_LANGUAGE:
        raise ConfigError(_unknown(text))
    return Language(tag, _english_name(tag))


def _as_tag(text: str) -> str | None:
    import langcodes

    try:
        language = langcodes.Language.get(text.replace("_", "-"))
    except (langcodes.LanguageTagError, ValueError):
        return None
    if not language.language or language.language in _NOT_A_LANGUAGE or not language.is_valid():
        return None
    # Well-formed but unassigned ("xx", "de-XY": private-use codes count as valid) or an
    # extended subtag langcodes cannot fold into a language ("pt-zzz").
    if language.extlangs or "Unknown" in language.display_name():
        return None
    return str(langcodes.standardize_tag(language.to_tag()))


def _as_name(text: str) -> str | None:
    import langcodes

    # "Portuguese (Brazil)", "Chinese (Traditional)": a language, then a region or a script,
    # the shape langcodes' own display names take (its `find` would drop the part in brackets).
    if (match := _PAREN.match(text)) and (base := _as_name(match.group(1))):
        for kind in ("territory", "script"):
            try:
                part = langcodes.Language.find_name(kind, match.group(2))
            except LookupError:
                continue
            extra = part.territory if kind == "territory" else part.script
            if extra:
                return str(langcodes.standardize_tag(f"{base}-{extra}"))
    try:
        return str(langcodes.find(text).to_tag())
    except LookupError:
        return None


def _english_name(tag: str) -> str:
    """CLDR's English name for the whole tag when it has one ("Brazilian Portuguese"), else
    langcodes' composed one ("Portuguese (Angola)")."""
    import langcodes
    from language_data.names import code_to_names

    name = code_to_names(tag).get("en")
    return str(name) if name else str(langcodes.Language.get(tag).display_name())


@functools.lru_cache(maxsize=2)
def _known_languages(major: bool = False) -> dict[str, str]:
    """Language tag -> English name, for every language CLDR names in English; `major`: only
    the languages CLDR has locale data for (about 300) and their varieties."""
    from language_data.name_data import CODE_TO_NAMES, LANGUAGES_WITH_NAME_DATA

    return {
        code: names["en"]
        for code, names in CODE_TO_NAMES.items()
        if code[:1].islower()
        and "en" in names
        and code not in _NOT_A_LANGUAGE
        and (not major or code.split("-")[0] in LANGUAGES_WITH_NAME_DATA)
    }


def _closest(wanted: str, known: dict[str, str]) -> list[str]:
    by_name = {name.casefold(): code for code, name in known.items()}
    codes = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    names = [by_name[n] for n in difflib.get_close_matches(wanted, list(by_name), n=3, cutoff=0.6)]
    # What it looks like decides which list comes first: "frx" is a tag, "Spansh" a name.
    return codes + names if _TAG_SHAPE.match(wanted) and len(wanted) <= 3 else names + codes


def _unknown(text: str) -> str:
    known = _known_languages()
    wanted = text.casefold().replace("_", "-")
    codes: list[str] = []
    base = wanted.split("-")[0]
    if "-" in wanted and base in known:
        # A real language with a subtag that is not: offer the language and its varieties.
        codes += [base, *sorted(c for c in known if c.startswith(base + "-"))[:4]]
    # The widely used languages first: a typo of "French" means French, not Cajun French.
    codes += _closest(wanted, _known_languages(major=True)) or _closest(wanted, known)
    shown = [f"{known[c]} ({c})" for c in dict.fromkeys(codes)][:5]
    hint = f" Closest: {', '.join(shown)}." if shown else ""
    return (
        f"Unknown language {text!r}.{hint} Give a BCP 47 tag (fr, pt-BR, zh-Hant) or an English "
        "or native name (French, Brazilian Portuguese, français)."
    )
