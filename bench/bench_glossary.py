"""Glossary selection: the terms each text is sent with, for a 1,000-term glossary.

`Glossary.select` narrows the search with a word index; beside it, the same patterns
searched for every term (what the selection did before), and one regular expression that
joins every term as alternatives, the usual shortcut (it misses a term inside a longer one:
"network" in "neural network"). The texts are 200-character sentences of glossary and other
words; each figure is the median per text over interleaved rounds.
"""

from __future__ import annotations

import random
import re
import time
from typing import TYPE_CHECKING

from bench._support import Row, median

if TYPE_CHECKING:
    from compat_nb.work.glossary import Glossary

TERMS = 1_000
TEXTS = 1_000


def _world() -> tuple[Glossary, list[str]]:
    from compat_nb.work.glossary import Glossary, Term

    rng = random.Random(7)
    letters = "abcdefghijklmnop"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(6000)]
    terms = [" ".join(rng.sample(words[:1500], rng.choice([1, 1, 1, 2]))) for _ in range(TERMS)]
    glossary = Glossary(tuple(Term(t, t.upper()) for t in dict.fromkeys(terms)))
    texts = [
        " ".join(rng.choice(words) + rng.choice(["", "s", ","]) for _ in range(28))
        for _ in range(TEXTS)
    ]
    return glossary, texts


def run(quick: bool) -> list[Row]:
    from compat_nb.work.glossary import _pattern

    glossary, texts = _world()
    terms = glossary.terms
    texts = texts[: 200 if quick else TEXTS]
    joined = re.compile(
        "|".join(rf"(?<![A-Za-z0-9]){re.escape(t.source)}(?:s|es)?(?![A-Za-z0-9])" for t in terms),
        re.IGNORECASE,
    )

    def ours() -> None:
        for text in texts:
            glossary.select(text)

    def every_term() -> None:
        for text in texts:
            [t for t in terms if _pattern(t.source, inflected=True).search(text)]

    def one_alternation() -> None:
        for text in texts:
            joined.findall(text)

    contenders = {"compat_nb": ours, "every term searched": every_term}
    contenders["one alternation regex"] = one_alternation
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(3 if quick else 7):
        for name, fn in contenders.items():
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1e6 / len(texts))
    figures = {name: median(values) for name, values in samples.items()}
    ours_us = figures.pop("compat_nb")
    ratio = ours_us / figures["every term searched"]
    return [
        Row(
            "glossary",
            f"terms for one 200-char text, {len(terms):,}-term glossary",
            ours_us,
            "µs",
            figures,
            ratio,
            "every term searched",
            "≤ 0.2× every term searched",
            ratio <= 0.2,
        )
    ]
