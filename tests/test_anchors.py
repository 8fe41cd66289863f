"""Heading anchors kept through translation, checked on what a CommonMark renderer makes of
the result: every link that found its heading before finds an element with that id after."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from compat_nb.work.anchors import github_slug, headings, jupyter_id, keep_anchors


class Targets(HTMLParser):
    """The ids and names a rendered page offers to `#fragment` links, and heading texts."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.names: set[str] = set()
        self.titles: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("name"):
            self.names.add(str(values["name"]))
        if re.fullmatch(r"h[1-6]", tag):
            self._in_heading = True
            self.titles.append("")

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        if self._in_heading:
            self.titles[-1] += data


def rendered(markdown: str) -> Targets:
    page = Targets()
    page.feed(MarkdownIt("commonmark", {"html": True}).render(markdown))
    return page


ORIGINAL = """\
# Residual plots

See [the residuals](#Residual-plots) or, on GitHub, [them](#residual-plots).

## What's *new*? (v2)

Text.

Results
=======

> ## Quoted heading

## Results

```python
# not a heading
```
"""
TRANSLATED = """\
# Graphiques des résidus

Voir [les résidus](#Residual-plots) ou, sur GitHub, [eux](#residual-plots).

## Quoi de *neuf* ? (v2)

Texte.

Résultats
=========

> ## Titre cité

## Résultats

```python
# not a heading
```
"""


def test_headings_are_what_commonmark_sees_with_their_text_as_shown():
    found = headings(ORIGINAL)
    assert [(h.level, h.text) for h in found] == [
        (1, "Residual plots"),
        (2, "What's new? (v2)"),
        (1, "Results"),
        (2, "Quoted heading"),
        (2, "Results"),
    ]


def test_the_anchor_each_renderer_gives_a_heading():
    assert jupyter_id("What's new? (v2)") == "What's-new?-(v2)"
    assert github_slug("What's new? (v2)") == "whats-new-v2"
    assert github_slug("Données — étape 1_b") == "données--étape-1_b"
    assert github_slug("  C++ & Python  ") == "c--python"


def test_every_link_that_found_its_heading_still_does_in_a_notebook():
    (out,) = keep_anchors([(ORIGINAL, TRANSLATED)], notebook=True)
    page = rendered(out)
    # The translation is what shows: the anchors add no text to the headings.
    assert page.titles == [
        "Graphiques des résidus",
        "Quoi de neuf ? (v2)",
        "Résultats",
        "Titre cité",
        "Résultats",
    ]
    assert {"Residual-plots", "What's-new?-(v2)", "Results", "Quoted-heading"} <= page.ids
    # GitHub keeps `name`: its slugs, numbered as it numbers repeats.
    assert {"residual-plots", "whats-new-v2", "results", "results-1"} <= page.names
    assert "# not a heading" in out  # code untouched


def test_a_markdown_file_gets_the_github_slug_as_id_and_name():
    (out,) = keep_anchors([(ORIGINAL, TRANSLATED)], notebook=False)
    page = rendered(out)
    assert {"residual-plots", "whats-new-v2", "results", "results-1"} <= page.ids
    assert page.ids >= page.names
    assert '# <a id="residual-plots" name="residual-plots"></a>Graphiques des résidus' in out


def test_repeats_are_numbered_across_the_texts_of_one_document():
    cells = [("## Setup\n\nOne.", "## Installation\n\nUn."), ("## Setup", "## Mise en place")]
    first, second = keep_anchors(cells, notebook=False)
    assert 'id="setup"' in first and 'id="setup-1"' in second
    # In a notebook, JupyterLab does not number them: both carry "Setup".
    first, second = keep_anchors(cells, notebook=True)
    assert '<a id="Setup" name="setup"></a>' in first
    assert '<a id="Setup" name="setup-1"></a>' in second


@pytest.mark.parametrize(
    ("original", "translated"),
    [
        ("## NumPy\n\nText.", "## NumPy\n\nTexte."),  # the heading reads the same
        ("## Install {#install}", "## Installer {#install}"),  # its own id, kept by protected.py
        ("## One\n\n## Two", "## Un et deux"),  # headings that do not line up: left alone
        ("No heading here.", "Pas de titre ici."),
        (
            '<a id="Setup" name="setup"></a>\n## Setup',
            '<a id="Setup" name="setup"></a>\n## Réglage',
        ),
    ],
)
def test_no_anchor_where_none_is_needed_or_none_can_be_placed(original, translated):
    assert keep_anchors([(original, translated)], notebook=True) == [translated]


def test_only_the_anchors_the_document_lacks_are_added():
    original = '<a id="Setup"></a>\n## Setup'  # JupyterLab's anchor, made explicit already
    (out,) = keep_anchors([(original, '<a id="Setup"></a>\n## Réglage')], notebook=True)
    assert out == '<a id="Setup"></a>\n## <a name="setup"></a>Réglage'


def test_an_attribute_value_is_escaped():
    (out,) = keep_anchors([('## Fish & "chips"', "## Poisson-frites")], notebook=True)
    assert out == '## <a id="Fish-&amp;-&quot;chips&quot;" name="fish--chips"></a>Poisson-frites'
