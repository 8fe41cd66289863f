"""Glossaries from CSV, TSV and JSON; the terms a piece needs; the misses after translation."""

from __future__ import annotations

import json

import pytest

from compat_nb.errors import ConfigError
from compat_nb.work.glossary import Glossary, Term, load_glossary


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "terms.csv"
    path.write_text(
        "source,target\nmodel,modèle\nneural network,réseau de neurones\npandas,\n"
        '"GPU, CUDA",GPU\n',
        encoding="utf-8",
    )
    return path


def test_csv_with_a_header_quoted_cells_and_do_not_translate_rows(csv_file):
    glossary = load_glossary(csv_file)
    assert set(glossary.terms) == {
        Term("model", "modèle"),
        Term("neural network", "réseau de neurones"),
        Term("pandas", None),
        Term("GPU, CUDA", "GPU"),
    }
    assert Term("pandas").keep and not Term("model", "modèle").keep


def test_tsv_and_every_json_shape_read_the_same_terms(tmp_path):
    (tmp_path / "t.tsv").write_text("model\tmodèle\npandas\t\n", encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"model": "modèle", "pandas": None}))
    (tmp_path / "b.json").write_text(
        json.dumps([{"source": "model", "target": "modèle"}, {"source": "pandas"}])
    )
    (tmp_path / "c.json").write_text(
        json.dumps({"terms": {"model": "modèle"}, "do_not_translate": ["pandas"]})
    )
    expected = {Term("model", "modèle"), Term("pandas", None)}
    for name in ("t.tsv", "a.json", "b.json", "c.json"):
        assert set(load_glossary(tmp_path / name).terms) == expected, name


def test_only_the_terms_a_piece_contains_are_selected(csv_file):
    glossary = load_glossary(csv_file)
    chosen = glossary.select("Train the Models with pandas.")
    assert {t.source for t in chosen} == {"model", "pandas"}
    assert glossary.select("Nothing relevant here; remodel is another word.") == []
    text = Glossary.instructions(chosen)
    assert "- model → modèle" in text and "- pandas" in text
    assert "Keep these terms unchanged" in text
    assert Glossary.instructions([]) == ""


def test_a_term_the_translation_ignores_is_a_miss(csv_file):
    chosen = load_glossary(csv_file).select("The model uses pandas.")
    assert Glossary.misses(chosen, "Les modèles utilisent Pandas.") == []  # inflected, any case
    missed = Glossary.misses(chosen, "Le modelo utilise les pandas géants... panda.")
    assert [t.source for t in missed] == ["model"]
    assert [t.source for t in Glossary.misses(chosen, "Le modèle utilise numpy.")] == ["pandas"]


def test_terms_in_scripts_without_spaces_are_found():
    glossary = Glossary((Term("model", "モデル"),))
    (term,) = glossary.select("The model.")
    assert Glossary.misses([term], "このモデルは速い。") == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("a,b,c\n", "g.csv", "line 1: 3 columns"),
        (",x\n", "g.csv", "line 1: the source term is empty"),
        ("model,modèle\nModel,maquette\n", "g.csv", "two translations"),
        ("{not json", "g.json", "not valid JSON"),
        ("[1, 2]", "g.json", "expected"),
        ("source,target\n", "g.csv", "has no terms"),
    ],
)
def test_a_bad_glossary_names_the_file_and_the_fault(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_glossary(path)
    assert message in str(caught.value) and name in str(caught.value)


def test_a_missing_glossary_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found: check the path"):
        load_glossary(tmp_path / "nope.csv")


def test_selection_finds_what_searching_every_term_finds():
    """The word index only narrows the search: the terms found are those a search for every
    term finds, in glossary order, whatever the script, case, punctuation or inflection."""
    import random

    from compat_nb.work.glossary import _pattern

    tricky = ["C++", "e-mail", "modèle", "机器学习", "_private", "3D model", ".NET", "model"]
    tricky += ["neural network", "network", "Straße", "GPU, CUDA", "x", "API key", "keys"]
    rng = random.Random(3)
    words = [*tricky, "remodel", "E-Mail", "ASP.NET", "networks", "3d MODELS", "strasse"]
    words += ["x_private", "我喜欢机器学习", "api keys", "modèles", "the", "a", "(C++)"]
    glossary = Glossary(tuple(Term(t, "T") for t in tricky))
    for _ in range(400):
        text = "".join(
            rng.choice(words) + rng.choice([" ", "", ".", "s ", "-", "\n"]) for _ in range(8)
        )
        every = [t for t in glossary.terms if _pattern(t.source, inflected=True).search(text)]
        assert glossary.select(text) == every, text
