"""What a key looks like: vendor prefixes and random runs are keys; names, dates, ids are not."""

from __future__ import annotations

import secrets
import string

import pytest

from compat_nb.config.keys import (
    env_name_problem,
    header_value_problem,
    key_problem,
    looks_like_env_name,
    looks_like_key,
)


def _random(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


KEYS = {
    "openai project": "sk-proj-" + _random(48),
    "openai": "sk-" + _random(48),
    "openrouter": "sk-or-v1-" + secrets.token_hex(32),
    "anthropic": "sk-ant-api03-" + _random(93),
    "groq": "gsk_" + _random(52),
    "xai": "xai-" + _random(80),
    "google": "AIza" + _random(35),
    "hugging face": "hf_" + _random(34, string.ascii_letters),
    "litellm short": "sk-1234ab",
    "azure (32 hex, no prefix)": secrets.token_hex(16),
    "apim subscription (32 hex)": secrets.token_hex(16),
    "urlsafe token": secrets.token_urlsafe(32),
    "bearer value": "Bearer abcdefghijkl",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "slack": f"xoxb-123456789012-1234567890123-{_random(24)}",
}

NOT_KEYS = [
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "LLM_GATEWAY_KEY_PROD_EU_WEST_1",
    "CamelCaseVariableNameLonger",
    "2024-02-01",
    "application/json",
    "text/event-stream",
    "assistants=v2",
    "https://mysite.example.com/some/path/here",
    "My App",
    "compat_nb/0.1.0",
    "123e4567-e89b-12d3-a456-426614174000",
    "meta-llama/Llama-3.2-3B-Instruct-Turbo",
    "ft:gpt-4o-mini-2024-07-18:my-org::9cfXYZab",
    "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
    "sk-SK",  # a locale
    "internationalization",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
    "max-age=31536000",
    "DeepSeek-R1-Distill-Qwen-32B",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M",
    "Qwen2-VL-72B-Instruct-AWQ",
    "gemma-3-27b-it-qat-q4_0-gguf",
    "Phi-3-mini-4k-instruct-q4",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
]


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_keys_are_recognised_by_value(kind: str) -> None:
    assert looks_like_key(KEYS[kind])


@pytest.mark.parametrize("value", NOT_KEYS)
def test_names_ids_and_dates_are_not_keys(value: str) -> None:
    assert not looks_like_key(value)


def test_random_hex_keys_are_always_caught() -> None:
    # Azure and API Management keys carry no prefix: only their randomness gives them away.
    assert all(looks_like_key(secrets.token_hex(16)) for _ in range(2000))


def test_variable_names_and_references_are_told_apart_from_keys() -> None:
    for name in ("OPENAI_API_KEY", "$HF_TOKEN", "${AZURE_OPENAI_API_KEY}"):
        assert looks_like_env_name(name)
    for value in (KEYS["openai"], KEYS["groq"], "myvar", "GROQ", "sk_live_abc"):
        assert not looks_like_env_name(value)


def test_problems_describe_the_value_without_quoting_it() -> None:
    key = KEYS["openai"]
    for problem in (
        env_name_problem(key),
        env_name_problem("sk-abc def"),
        header_value_problem(key[:10] + "\u200b" + key[10:]),
        key_problem(key[:10] + " " + key[10:]),
    ):
        assert problem and key[:6] not in problem and key[-6:] not in problem
    assert env_name_problem("OPENAI_API_KEY") is None
    assert "API key" in (env_name_problem(key) or "")
    assert "not a variable name" in (env_name_problem("1ABC") or "")


@pytest.mark.parametrize(
    ("char", "says"),
    [
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("\u00a0", "U+00A0 NO-BREAK SPACE"),
        ("\n", "U+000A a line break"),
        ("é", "U+00E9 LATIN SMALL LETTER E WITH ACUTE"),
        ("\x7f", "U+007F"),
    ],
)
def test_a_character_no_header_can_carry_is_named_with_its_position(char: str, says: str) -> None:
    problem = header_value_problem("abcd" + char + "efgh")
    assert problem is not None and says in problem and "position 5 of 9" in problem
    assert key_problem("abcd" + char + "efgh") == problem


def test_a_clean_key_and_a_header_value_with_spaces_pass() -> None:
    assert key_problem(KEYS["openai"]) is None
    assert header_value_problem("My App (contact@example.com)") is None


def test_free_text_fields_refuse_only_an_unmistakable_key() -> None:
    from compat_nb.config.keys import starts_like_key

    for model in ("hf_llama_8b", "sk-SK", "xai-grok", "gsk_test_model"):
        assert not starts_like_key(model), model
    for key in (KEYS["openai"], KEYS["groq"], KEYS["hugging face"], KEYS["google"]):
        assert starts_like_key(key)
