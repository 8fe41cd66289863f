"""An LLM as judge: a 0–100 direct-assessment score for one translation, GEMBA-DA style.

The prompt is GEMBA-DA's (Kocmi & Federmann 2023, "Large Language Models Are State-of-the-Art
Evaluators of Translation Quality", EAMT), with the human reference when there is one and the
reference-free variant otherwise. Its known limits are in the README: scores from one judge
are not comparable with another's, small judges are noisy, and a judge prefers answers in its
own style, so a candidate judged by its own model is favoured.
"""

from __future__ import annotations

import re

__all__ = ["JUDGE_PROMPT_VERSION", "judge_messages", "parse_score"]

JUDGE_PROMPT_VERSION = "gemba-da-1"  # part of every judge answer's cache key

_WITH_REFERENCE = (
    "Score the following translation from {source_lang} to {target_lang} with respect to the "
    "human reference on a continuous scale from 0 to 100, where score of zero means "
    '"no meaning preserved" and score of one hundred means "perfect meaning and grammar".\n\n'
    '{source_lang} source: "{source}"\n'
    '{target_lang} human reference: "{reference}"\n'
    '{target_lang} translation: "{translation}"\n'
    "Score: "
)
_WITHOUT_REFERENCE = (
    "Score the following translation from {source_lang} to {target_lang} on a continuous "
    'scale from 0 to 100, where score of zero means "no meaning preserved" and score of one '
    'hundred means "perfect meaning and grammar".\n\n'
    '{source_lang} source: "{source}"\n'
    '{target_lang} translation: "{translation}"\n'
    "Score: "
)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)(?![\w]|\.\d)")


def judge_messages(
    *,
    source: str,
    translation: str,
    source_lang: str,
    target_lang: str,
    reference: str | None = None,
) -> list[dict[str, str]]:
    """The judge's chat messages: GEMBA-DA's single user prompt (languages as English names)."""
    template = _WITH_REFERENCE if reference is not None else _WITHOUT_REFERENCE
    prompt = template.format(
        source_lang=source_lang,
        target_lang=target_lang,
        source=source,
        reference=reference,
        translation=translation,
    )
    return [{"role": "user", "content": prompt}]


def parse_score(answer: str) -> float | None:
    """The first number from 0 to 100 in the judge's answer ("Score: 85", "85/100", "I'd give
    it 72.5."); None when there is none, as GEMBA treats an answer it cannot parse."""
    for match in _NUMBER.finditer(answer):
        value = float(match.group(1))
        if 0 <= value <= 100:
            return value
    return None
