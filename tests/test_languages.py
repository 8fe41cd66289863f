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


# --- every place a language is taken --------------------------------------------------------


@pytest.fixture
def local(server):
    from compat_nb.config.presets import Preset
    from compat_nb.config.store import get_store

    get_store().save(Preset("Here", server.base_url, "test-model"))
    get_store().use("Here")
    return server


def prompts(server) -> list[str]:
    return [r.body["messages"][0]["content"] for r in server.chat_requests()]


def test_the_cell_magic_takes_tags_and_names_and_refuses_unknown_ones(ip, local, capsys):
    ip.run_cell("%%translate -t pt-BR -f en -o t\nHello")
    assert "into Brazilian Portuguese (pt-BR) from English (en)." in prompts(local)[0]
    assert ip.user_ns["t"].target_language == "Brazilian Portuguese"

    result = ip.run_cell("%%translate -t Frnch\nHello")
    assert not result.success and len(local.chat_requests()) == 1  # nothing sent
    shown = capsys.readouterr()
    assert "Unknown language 'Frnch'. Closest: French (fr)" in shown.out + shown.err
    assert "Traceback" not in shown.out + shown.err


def test_config_and_preset_languages_resolve_the_same_way(ip, local):
    from compat_nb.config.presets import Preset
    from compat_nb.config.store import get_store

    ip.run_line_magic("config", 'TranslateMagics.target_language = "zh_hant"')
    ip.run_cell("%%translate -o t\nHello")
    assert "into Traditional Chinese (zh-Hant)." in prompts(local)[-1]
    get_store().save(Preset("Here", local.base_url, "test-model", target_language="français"))
    ip.run_cell("%%translate -o t\nHello")
    assert "into French (fr)." in prompts(local)[-1]
    assert ip.user_ns["t"].target_language == "French"


def test_an_unknown_language_is_refused_where_it_is_set_not_in_a_later_cell(ip, local, caplog):
    """`%config` and `%translate new/set` check the language as they take it: accepted, it
    would fail every later cell, whose message could not say where the language came from."""
    from compat_nb.config.presets import Preset
    from compat_nb.config.store import get_store

    magics = ip.magics_manager.registry["TranslateMagics"]
    ip.run_line_magic("config", 'TranslateMagics.target_language = "Frnch"')
    # %config reports a refused value as a log line (as for every trait), not a traceback.
    assert "TranslateMagics.target_language: Unknown language 'Frnch'" in caplog.text
    assert magics.target_language == "English"  # unchanged
    ip.run_line_magic("config", 'TranslateMagics.source_language = "pt_br"')
    assert magics.source_language == "pt_br"  # a known one is taken as given
    get_store().save(Preset("Here", local.base_url, "test-model"))
    for line in (
        "%translate set Here target_language=Frnch",
        "%translate set Here --to Frnch",
        f"%translate new There --base-url {local.base_url} -m test-model --to Frnch",
    ):
        result = ip.run_cell(line)
        assert "Unknown language 'Frnch'" in str(result.error_in_exec), line
        assert "Nothing was saved" in str(result.error_in_exec), line
    assert get_store().get("Here").target_language is None
    assert "There" not in get_store().names()
    assert ip.run_cell("%translate set Here --to pt-BR").error_in_exec is None
    assert get_store().get("Here").target_language == "pt-BR"


def test_the_python_api_resolves_languages_before_sending(local):
    import compat_nb

    t = compat_nb.translate("Hello", to="fr")
    assert t.target_language == "French" and "into French (fr)." in prompts(local)[-1]
    many = compat_nb.translate_many(["Hello", "Bye"], to="pt-BR", source="English")
    assert {m.target_language for m in many} == {"Brazilian Portuguese"}
    assert "into Brazilian Portuguese (pt-BR) from English (en)." in prompts(local)[-1]
    cmp = compat_nb.compare("Hello", presets=["Here"], to="de")
    assert cmp.target_language == "German"
    sent = len(local.chat_requests())
    for call in (
        lambda: compat_nb.translate("Hello", to="Frnch"),
        lambda: compat_nb.translate_many(["Hello"], to="xx"),
        lambda: compat_nb.compare("Hello", presets=["Here"], to="xx"),
    ):
        with pytest.raises(ConfigError, match="Unknown language"):
            call()
    assert len(local.chat_requests()) == sent


def test_the_quick_common_languages_are_what_langcodes_and_cldr_say() -> None:
    # The common languages are answered without langcodes (a notebook's first cell stays
    # quick); each must be exactly what the full path resolves, by tag and by name.
    from compat_nb.work import languages

    for tag, name in languages._COMMON.items():
        full = languages._resolve(tag)
        assert full == Language(tag, name), (tag, full)
        assert languages._resolve(name) == full
        for spelling in (tag, tag.upper(), name, name.lower(), f" {name} "):
            assert resolve_language(spelling) == full
