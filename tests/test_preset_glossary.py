"""A preset's glossary: a checked path saved in presets.json, set from commands and the panel,
and used by every entry point that translates, against the loopback server: only the terms a
text contains are sent with it, and a term the answer lacks is reported where a report is."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import MARKER_KEY
from IPython.core.error import UsageError

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import PresetStore, get_store
from compat_nb.errors import ConfigError
from compat_nb.work import chunking

SLOPE = "The slope of the line is small."
PLAIN = "Thank you for reading."


@pytest.fixture
def terms(tmp_path: Path) -> Path:
    path = tmp_path / "terms.csv"
    path.write_text("source,target\nslope,pente\nresiduals,résidus\nNumPy,\n", "utf-8")
    return path


@pytest.fixture
def preset(server, terms: Path) -> Preset:
    saved = get_store().save(Preset("Glossed", server.base_url, "test-model", glossary=terms))
    return get_store().use(saved.name)


@pytest.fixture(autouse=True)
def fresh_pieces() -> None:
    chunking.clear_cache()


def system_for(server, text: str) -> str:
    """The system message of the (last) request that carried `text`."""
    bodies = [r.body for r in server.chat_requests()]
    return [b["messages"][0]["content"] for b in bodies if b["messages"][-1]["content"] == text][-1]


def follows_residuals_only(body: dict[str, Any]) -> str:
    """A model that uses "résidus" as told and ignores "pente"."""
    return body["messages"][-1]["content"].replace("residuals", "résidus")


# --- the field ---------------------------------------------------------------------------------


def test_the_field_is_an_absolute_path_saved_with_the_preset(config_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = Preset("A", glossary="terms.csv")
    assert relative.glossary == str(tmp_path / "terms.csv")
    assert Preset("B", glossary=Path("~/t.json")).glossary == os.path.expanduser("~/t.json")
    assert Preset("C", glossary="  ").glossary is None
    get_store().save(relative)
    data = json.loads((config_dir / "presets.json").read_text())
    assert data["presets"]["A"]["glossary"] == str(tmp_path / "terms.csv")
    assert PresetStore(config_dir).get("A") == relative


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "glossary is the path of a CSV, TSV or JSON file, not 42"),
        (MARKER_KEY + "0123456789", "the glossary looks like an API key"),
        ("terms.csv\nrm -rf", "the glossary path holds a line break"),
    ],
)
def test_a_value_that_is_not_a_path_is_refused_naming_the_preset(value, message):
    with pytest.raises(ConfigError, match=f"Preset 'P': {message}"):
        Preset("P", glossary=value)


# --- commands --------------------------------------------------------------------------------


def test_new_and_set_take_a_glossary_and_refuse_a_file_that_is_not_one(
    ip, server, terms, tmp_path, capsys
):
    ip.run_line_magic(
        "translate", f'new Mine --base-url {server.base_url} -m test-model --glossary "{terms}"'
    )
    assert f"glossary {terms}" in capsys.readouterr().out
    assert get_store().get("Mine").glossary == str(terms)

    bad = tmp_path / "bad.csv"
    bad.write_text("slope,pente,extra\n", "utf-8")
    result = ip.run_cell(f'%translate set Mine glossary="{bad}"')
    said = capsys.readouterr()
    assert not result.success and "Traceback" not in said.out + said.err
    assert (
        "line 1: 3 columns" in said.out + said.err and "Nothing was saved." in said.out + said.err
    )
    assert get_store().get("Mine").glossary == str(terms)

    ip.run_line_magic("translate", "show Mine")
    assert f"glossary{terms}" in "".join(capsys.readouterr().out.split())  # wrapped to fit
    ip.run_line_magic("translate", "set Mine glossary=")  # empty: none
    assert get_store().get("Mine").glossary is None
    ip.run_line_magic("translate", "show Mine")
    assert "glossary  none" in capsys.readouterr().out


def test_new_help_lists_the_glossary_flag(ip, capsys):
    ip.run_line_magic("translate", "new -h")
    assert "--glossary FILE" in capsys.readouterr().out


# --- every entry point -------------------------------------------------------------------------


def test_translate_sends_only_the_terms_a_text_contains_and_reports_misses(server, preset):
    server.reply = follows_residuals_only
    result = compat_nb.translate(f"{SLOPE} The residuals are small too.", to="fr")
    system = server.chat_requests()[-1].body["messages"][0]["content"]
    assert "- slope → pente" in system and "- residuals → résidus" in system
    assert "NumPy" not in system  # not in this text: not sent
    assert [t.source for t in result.glossary_misses] == ["slope"]
    assert "glossary not followed: slope → pente" in result.footer()

    (row,) = compat_nb.history(limit=1)
    assert row["options"] == {"glossary": preset.glossary}  # the history says which file

    plain = compat_nb.translate(PLAIN, to="fr")
    assert "Additional instructions" not in system_for(server, PLAIN)
    assert plain.glossary_misses == ()


def test_a_preset_without_a_glossary_sends_the_same_prompt_as_before(server):
    bare = Preset("Bare", server.base_url, "test-model", system_prompt="Be formal.")
    compat_nb.translate(SLOPE, to="fr", preset=bare)
    system = server.chat_requests()[-1].body["messages"][0]["content"]
    assert system.endswith("Additional instructions:\nBe formal.")


def test_a_cell_uses_the_preset_glossary_and_a_flag_names_another(ip, server, preset, tmp_path):
    server.reply = follows_residuals_only
    ip.run_cell_magic("translate", "-t fr -o one", SLOPE)
    assert "- slope → pente" in system_for(server, SLOPE)
    assert "glossary not followed: slope → pente" in ip.user_ns["one"].footer()

    other = tmp_path / "other.json"
    other.write_text(json.dumps({"slope": "inclinaison"}), "utf-8")
    ip.run_cell_magic("translate", f'-t fr --glossary "{other}" -o two', SLOPE)
    assert "- slope → inclinaison" in system_for(server, SLOPE)

    sent = len(server.chat_requests())
    with pytest.raises(
        UsageError, match=r"Glossary file '.*missing\.csv' not found: check the path"
    ):
        ip.run_cell_magic("translate", f'-t fr --glossary "{tmp_path / "missing.csv"}"', SLOPE)
    assert len(server.chat_requests()) == sent  # nothing was sent


def test_a_long_text_sends_each_piece_its_own_terms(ip, server, preset):
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 40")
    ip.run_cell_magic("translate", "-t fr -o long", f"{SLOPE}\n\n{PLAIN}")
    assert "- slope → pente" in system_for(server, SLOPE)
    assert "Additional instructions" not in system_for(server, PLAIN)
    assert [t.source for t in ip.user_ns["long"].glossary_misses] == ["slope"]


def test_translate_many_keys_its_cache_by_the_terms_sent(server, preset, terms):
    first = compat_nb.translate_many([SLOPE, PLAIN], to="fr")
    assert [len(t.glossary_misses) for t in first] == [1, 0]
    asked = len(server.chat_requests())
    terms.write_text("slope,inclinaison\n", "utf-8")  # a new glossary: a new prompt for SLOPE
    os.utime(terms, ns=(1, 1))  # a different modification time, however fast the test runs
    compat_nb.translate_many([SLOPE, PLAIN], to="fr")
    assert len(server.chat_requests()) == asked + 1  # PLAIN's answer still holds
    assert "- slope → inclinaison" in system_for(server, SLOPE)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat_nb.translate_many(pd.Series([SLOPE, PLAIN]), to="fr")
    (warning,) = [w for w in caught if "glossary" in str(w.message)]
    assert "1 of 2 translations do not use a glossary term as given" in str(warning.message)
    assert "(first: slope → inclinaison)" in str(warning.message)


def test_compare_sends_each_candidate_its_own_glossary_and_shows_misses(server, preset):
    bare = Preset("Bare", server.base_url, "test-model")
    comparison = compat_nb.compare(SLOPE, presets=["Glossed", bare], to="fr", stream=False)
    systems = [r.body["messages"][0]["content"] for r in server.chat_requests()]
    assert sum("- slope → pente" in s for s in systems) == 1
    glossed, plain = comparison.candidates
    assert "glossary not followed: slope → pente" in comparison.figures(glossed)
    assert "glossary" not in comparison.figures(plain)
    assert comparison.to_pandas()["glossary_misses"].tolist() == [("slope → pente",), ()]


def test_evaluate_requires_the_glossary_terms_and_keys_its_cache_by_them(server, preset):
    bare = Preset("Bare", server.base_url, "test-model")
    compat_nb.evaluate([SLOPE], candidates=[bare], to="fr", judge=None)
    asked = len(server.chat_requests())
    evaluation = compat_nb.evaluate([SLOPE], candidates=["Glossed"], to="fr", judge=None)
    assert len(server.chat_requests()) == asked + 1  # another prompt, not the cached answer
    assert "- slope → pente" in server.chat_requests()[-1].body["messages"][0]["content"]
    flags = evaluation.to_pandas()["flags"].tolist()[0]
    assert "missing_terms" in str(flags)
    again = compat_nb.evaluate([SLOPE], candidates=["Glossed"], to="fr", judge=None)
    assert len(server.chat_requests()) == asked + 1 and again  # now from the cache


def test_notebooks_use_the_preset_glossary_unless_given_one(server, preset, tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"{SLOPE}\n", "utf-8")
    report = compat_nb.translate_notebook(page, to="fr", progress=False)
    assert report.glossary_misses == [("line 1", "slope")]
    other = tmp_path / "other.csv"
    other.write_text("line,droite\n", "utf-8")
    (page.with_name("page.fr.md")).unlink()
    compat_nb.translate_notebook(page, to="fr", glossary=other, progress=False)
    system = server.chat_requests()[-1].body["messages"][0]["content"]
    assert "- line → droite" in system and "pente" not in system
    assert compat_nb.history(limit=1)[0]["options"]["glossary"] == str(other)


def test_a_glossary_that_cannot_be_read_is_said_before_anything_is_sent(server, preset, terms):
    from compat_nb.config import advice

    terms.unlink()
    with pytest.raises(ConfigError) as caught, advice.shown_in("python"):
        compat_nb.translate(SLOPE, to="fr")
    message = caught.value.message
    assert message.startswith(f"Preset 'Glossed': Glossary file '{terms}' not found: check the")
    assert "replace(glossary='FILE')" in message  # Python's words, in Python
    with pytest.raises(ConfigError):
        compat_nb.translate_many([SLOPE], to="fr")
    with pytest.raises(ConfigError):
        compat_nb.compare(SLOPE, to="fr")
    with pytest.raises(ConfigError):
        compat_nb.evaluate([SLOPE], candidates=["Glossed"], to="fr", judge=None)
    assert not server.chat_requests()


def test_in_a_cell_the_same_fault_is_one_message_in_the_magics_words(
    ip, server, preset, terms, capsys
):
    terms.unlink()
    for cell in (
        f"%%translate -t fr\n{SLOPE}",
        f"%%translate -t fr -p Glossed -p Glossed\n{SLOPE}",
    ):
        result = ip.run_cell(cell)
        said = capsys.readouterr()
        assert not result.success and "Traceback" not in said.out + said.err
        assert "`%translate set Glossed glossary=FILE`" in said.out + said.err
    assert not server.chat_requests()


# --- the panel ---------------------------------------------------------------------------------


def test_the_panel_has_an_advanced_glossary_field_checked_on_save(server, terms, tmp_path):
    from compat_nb.faces.panel import settings_panel

    get_store().save(Preset("Mine", server.base_url, "test-model"))
    panel = settings_panel("Mine")
    try:
        assert panel.glossary in panel.advanced.children[0].children
        panel.glossary.value = str(tmp_path / "nope.csv")
        assert panel.save() is None
        assert "nope.csv' not found: check the path" in panel.message
        assert get_store().get("Mine").glossary is None

        panel.glossary.value = MARKER_KEY + "0123456789"  # a key pasted in the wrong field
        assert MARKER_KEY not in panel.glossary.value and "looks like an API key" in panel.message

        panel.glossary.value = str(terms)
        assert panel.save() is not None
        assert get_store().get("Mine").glossary == str(terms)

        # The target language is checked on Save the same way.
        panel.target_language.value = "Frnch"
        assert panel.save() is None
        assert "Unknown language 'Frnch'. Closest: French (fr)" in panel.message
        assert get_store().get("Mine").target_language is None
        panel.target_language.value = "français"
        assert panel.save() is not None and get_store().get("Mine").target_language == "français"
    finally:
        panel.close()
