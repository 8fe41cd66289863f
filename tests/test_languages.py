"""Languages by tag or name: normalised BCP 47 tags, CLDR English names, closest matches."""

from __future__ import annotations

import pytest

from compat_nb.errors import ConfigError
from compat_nb.work.languages import Language, resolve_language


@pytest.mark.parametrize(
    ("value", "tag", "name"),
    [
        ("fr", "fr", "French"),
        ("French", "fr", "French"),
        ("français", "fr", "French"),
        ("fre", "fr", "French"),  # ISO 639-2/B folds to the two-letter code
        ("pt-BR", "pt-BR", "Brazilian Portuguese"),
        ("pt_br", "pt-BR", "Brazilian Portuguese"),
        ("Brazilian Portuguese", "pt-BR", "Brazilian Portuguese"),
        ("Portuguese (Brazil)", "pt-BR", "Brazilian Portuguese"),
        ("zh-Hant", "zh-Hant", "Traditional Chinese"),
        ("Chinese (Traditional)", "zh-Hant", "Traditional Chinese"),
        ("iw", "he", "Hebrew"),  # deprecated tag replaced
        ("en-Latn-US", "en-US", "American English"),  # suppressed script dropped
        ("Deutsch", "de", "German"),
        ("日本語", "ja", "Japanese"),
        ("  es-419 ", "es-419", "Latin American Spanish"),
    ],
)
def test_tags_and_names_resolve_to_one_normalised_language(value, tag, name):
    language = resolve_language(value)
    assert language == Language(tag, name)
    assert language.prompt_name == f"{name} ({tag})"
    assert str(language) == name


@pytest.mark.parametrize(
    ("value", "closest"),
    [
        ("Frnch", "French (fr)"),
        ("Japnese", "Japanese (ja)"),
        ("frx", "French (fr)"),
        ("pt-ZZZ", "Brazilian Portuguese (pt-BR)"),  # a real language, an unknown subtag
        ("de-XY", "German (de)"),
        ("xx", "Closest:"),
    ],
)
def test_an_unknown_language_names_the_closest_matches(value, closest):
    with pytest.raises(ConfigError) as caught:
        resolve_language(value)
    message = str(caught.value)
    assert message.startswith(f"Unknown language {value!r}.")
    assert closest in message
    assert "BCP 47 tag" in message  # and says what would work


@pytest.mark.parametrize("value", ["", "   ", "und", "zxx", "x-klingon"])
def test_no_language_and_special_codes_are_refused(value):
    with pytest.raises(ConfigError):
        resolve_language(value)


def test_a_typo_of_a_major_language_is_not_offered_an_obscure_one_first():
    with pytest.raises(ConfigError) as caught:
        resolve_language("Spansh")
    assert str(caught.value).index("Spanish (es)") < str(caught.value).index("Pashto")
