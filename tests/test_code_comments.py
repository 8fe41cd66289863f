"""Comments and docstrings found with tokenize/ast, spliced back, the code's AST proven equal."""

from __future__ import annotations

import ast

from compat_nb.work.code_comments import apply, find_segments, same_code

CELL = '''%matplotlib inline
import numpy as np  # numerical arrays
#!/usr/bin/env python

# Compute the mean of the values,
# ignoring missing ones.
def mean(xs):
    """Return the mean of xs.

    Missing values are skipped.
    """
    # total = 0
    return sum(xs) / len(xs)  # type: ignore


class Point:
    \'\'\'A point in the plane.\'\'\'

    def norm(self):
        "Its distance to the origin."
        text = "# not a comment"
        return (self.x**2 + self.y**2) ** 0.5  # Pythagoras
!ls  # list the files
'''


def upper(segments):
    return [s.text.upper() for s in segments]


def test_only_prose_comments_and_docstrings_are_found():
    segments = find_segments(CELL)
    assert [(s.kind, s.text) for s in segments] == [
        ("comment", "numerical arrays"),
        ("comment", "Compute the mean of the values,\nignoring missing ones."),
        ("docstring", "Return the mean of xs.\n\nMissing values are skipped."),
        ("docstring", "A point in the plane."),
        ("docstring", "Its distance to the origin."),
        ("comment", "Pythagoras"),
    ]  # not: the shebang, `# total = 0` (code), `# type: ignore`, the string, the `!ls` line


def test_translations_are_spliced_back_and_everything_else_is_byte_identical():
    segments = find_segments(CELL)
    translated = apply(CELL, segments, upper(segments))
    assert same_code(CELL, translated)
    assert "# COMPUTE THE MEAN OF THE VALUES,\n# IGNORING MISSING ONES.\ndef mean" in translated
    assert '    """RETURN THE MEAN OF XS.\n\n    MISSING VALUES ARE SKIPPED.\n    """' in translated
    assert "** 0.5  # PYTHAGORAS\n!ls  # list the files\n" in translated
    # Remove each translated segment's lines from both: the rest is the same text.
    assert translated.count("\n") == CELL.count("\n")
    untouched = [a for a, b in zip(CELL.split("\n"), translated.split("\n"), strict=True) if a == b]
    assert "    return sum(xs) / len(xs)  # type: ignore" in untouched
    assert '        text = "# not a comment"' in untouched


def test_nothing_translated_gives_back_the_source():
    segments = find_segments(CELL)
    assert apply(CELL, segments, [None] * len(segments)) == CELL


def test_a_translation_with_quotes_or_line_breaks_still_parses_as_the_same_code():
    segments = find_segments(CELL)
    wild = ['Un "doc" avec """ trois\nlignes' for _ in segments]
    translated = apply(CELL, segments, wild)
    assert same_code(CELL, translated)
    tree = ast.parse(translated.replace("%matplotlib inline", "").replace("!ls", ""))
    doc = ast.get_docstring(tree.body[2].body[1])
    assert doc == 'Un "doc" avec """ trois lignes'  # a one-quote docstring stays one line


def test_a_changed_program_is_caught():
    assert not same_code("x = 1  # one", "x = 2  # one")
    assert not same_code('def f():\n    """Doc."""\n', 'def f():\n    """Doc."""\n    pass\n')
    assert same_code('def f():\n    """Doc."""\n', 'def f():\n    """Autre."""\n')


def test_cells_that_are_not_python_are_left_alone():
    assert find_segments("%%bash\n# a shell comment\nls\n") is None
    assert find_segments("def broken(:\n    # comment\n") is None
    assert find_segments("x = 1\n") == []
