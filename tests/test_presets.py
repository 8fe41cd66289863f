"""Preset: URL normalisation, usability, options, keys, headers, the built-in catalog."""

from __future__ import annotations

import re

import pytest
from conftest import MARKER_KEY

import compat_nb
from compat_nb.config.catalog import BUILTIN_PRESETS
from compat_nb.config.presets import Preset
from compat_nb.config.urls import join_url, normalize_base_url
from compat_nb.errors import ConfigError


@pytest.mark.parametrize(
    ("pasted", "root"),
    [
        (" http://127.0.0.1:1234/v1/ ", "http://127.0.0.1:1234/v1"),
        ("http://127.0.0.1:1234/v1///", "http://127.0.0.1:1234/v1"),
        ("\thttp://127.0.0.1:1234/v1\n", "http://127.0.0.1:1234/v1"),
        ("http://127.0.0.1:1234/v1/chat/completions", "http://127.0.0.1:1234/v1"),
        ("http://127.0.0.1:1234/v1/chat/completions/", "http://127.0.0.1:1234/v1"),
        ("https://api.provider.com/v1/models", "https://api.provider.com/v1"),
        ("https://openrouter.ai/api/v1/chat/completions", "https://openrouter.ai/api/v1"),
        ("http://host//v1//chat/completions", "http://host/v1"),
        ("http://127.0.0.1:1234", "http://127.0.0.1:1234"),
        ("http://127.0.0.1:1234/", "http://127.0.0.1:1234"),
        ("localhost:1234/v1", "http://localhost:1234/v1"),
        ("HTTP://Example.com/v1", "http://Example.com/v1"),
        (
            "https://gw.example.com/openai/v1/chat/completions?api-version=2024-10-21",
            "https://gw.example.com/openai/v1?api-version=2024-10-21",
        ),
        ("https://gw.example.com/v1/?a=1&b=2", "https://gw.example.com/v1?a=1&b=2"),
        ("", ""),
        ("   ", ""),
        (None, ""),
    ],
)
def test_normalize_base_url(pasted: str | None, root: str) -> None:
    assert normalize_base_url(pasted) == root


@pytest.mark.parametrize(
    "pasted",
    [
        "http://h:1/v1/",
        "http://h:1/v1/chat/completions",
        "http://h:1//v1//models//",
        "http://h:1/v1?x=1",
        "http://h:1/",
    ],
)
def test_joined_endpoints_never_contain_double_slash(pasted: str) -> None:
    root = normalize_base_url(pasted)
    for endpoint in ("models", "chat/completions", "/chat/completions"):
        url = join_url(root, endpoint)
        assert "//" not in url.split("://", 1)[1], url
        assert url.split("?")[0].endswith("/" + endpoint.lstrip("/"))


def test_join_url_keeps_query_at_the_end() -> None:
    root = normalize_base_url("https://gw.example.com/v1/chat/completions?api-version=1")
    assert join_url(root, "chat/completions") == (
        "https://gw.example.com/v1/chat/completions?api-version=1"
    )
    assert join_url(root, "models") == "https://gw.example.com/v1/models?api-version=1"


def test_preset_normalises_its_fields() -> None:
    preset = Preset(
        "  Mine ",
        " http://127.0.0.1:1234/v1/chat/completions ",
        " llama3.2:3b ",
        api_key_env="  ",
    )
    assert preset.name == "Mine"
    assert preset.base_url == "http://127.0.0.1:1234/v1"
    assert preset.model == "llama3.2:3b"
    assert preset.api_key_env is None
    assert preset.replace(base_url="http://x/v1/models/").base_url == "http://x/v1"


@pytest.mark.parametrize(("where", "fix"), [("terminal", "--base-url"), ("python", "base_url=")])
def test_preset_without_base_url_names_what_is_missing(where: str, fix: str) -> None:
    import contextlib

    from compat_nb.config.advice import in_command, shown_in

    preset = Preset("Half", model="m")
    assert not preset.usable
    assert preset.problems() == ["Base URL is empty"]
    magic = in_command() if where == "terminal" else contextlib.nullcontext()  # as %%translate
    with shown_in(where), magic, pytest.raises(ConfigError) as info:
        preset.require_usable()
    assert "'Half'" in str(info.value)
    assert "Base URL is empty" in str(info.value)
    assert "Model name" not in str(info.value)
    assert fix in str(info.value)  # the fix is named, in the words of where it is read


def test_preset_without_model_names_what_is_missing() -> None:
    preset = Preset("Half", base_url="http://h/v1")
    with pytest.raises(ConfigError) as info:
        preset.require_usable()
    assert "Model name is empty" in str(info.value)
    assert "Base URL" not in str(info.value)


def test_empty_preset_names_both_and_a_builtin_gives_its_own_hint() -> None:
    with pytest.raises(ConfigError) as info:
        Preset("Empty").require_usable()
    assert "Base URL is empty and Model name is empty" in str(info.value)
    with pytest.raises(ConfigError) as info:
        BUILTIN_PRESETS["LM Studio"].require_usable()
    assert "Model name is empty" in str(info.value)
    assert "LM Studio" in str(info.value) and "start its server" in str(info.value)


def test_usable_preset_returns_itself() -> None:
    preset = Preset("ok", "http://h/v1", "m")
    assert preset.usable and preset.require_usable() is preset


def test_options_leave_out_what_is_unset() -> None:
    assert Preset("p", "http://h/v1", "m").options() == {}
    preset = Preset("p", "http://h/v1", "m", temperature=0.0, max_tokens=64)
    assert preset.options() == {"temperature": 0.0, "max_tokens": 64}
    assert preset.options(temperature=None) == {"max_tokens": 64}
    assert preset.options(temperature=0.7) == {"temperature": 0.7, "max_tokens": 64}


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_key_is_no_key(blank: str | None) -> None:
    preset = Preset("p", "http://h/v1", "m", api_key=blank)
    assert preset.api_key is None
    assert preset.resolve_key() is None
    assert preset.key_status == "none"


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    preset = Preset("p", "http://h/v1", "m", api_key_env="COMPAT_NB_TEST_KEY")
    monkeypatch.delenv("COMPAT_NB_TEST_KEY", raising=False)
    assert preset.resolve_key() is None
    assert preset.key_status == "env unset"
    monkeypatch.setenv("COMPAT_NB_TEST_KEY", "  ")
    assert preset.resolve_key() is None
    monkeypatch.setenv("COMPAT_NB_TEST_KEY", f" {MARKER_KEY} ")
    assert preset.resolve_key() == MARKER_KEY
    assert preset.key_status == "env"
    # A key given directly wins over the variable.
    direct = preset.replace(api_key="sk-direct")
    assert direct.resolve_key() == "sk-direct"
    assert direct.key_status == "set"


def test_extra_headers_are_kept() -> None:
    headers = {"HTTP-Referer": "https://example.com", "X-OpenRouter-Title": "compat_nb"}
    preset = Preset("OR", "https://openrouter.ai/api/v1", "m", headers=headers)
    assert preset.headers == headers
    assert preset.to_dict()["headers"] == headers


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_authorization_extra_header_is_rejected(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Preset("gw", "http://h/v1", "m", headers={name: f"Bearer {MARKER_KEY}"})
    assert "API key field" in str(info.value)
    assert MARKER_KEY not in str(info.value)


def test_repr_and_file_fields_never_show_the_key() -> None:
    preset = Preset("p", "http://h/v1", "m", api_key=MARKER_KEY, temperature=0.3)
    assert MARKER_KEY not in repr(preset)
    assert MARKER_KEY not in str(preset)
    assert "api_key='***'" in repr(preset)
    assert "temperature=0.3" in repr(preset)
    assert "api_key" not in preset.to_dict()
    assert MARKER_KEY not in repr(preset.to_dict())
    assert MARKER_KEY not in repr(preset.replace(model="other"))


def test_to_dict_round_trip_drops_empty_values_and_the_key() -> None:
    preset = Preset(
        "p",
        "http://h/v1?x=1",
        "m",
        api_key=MARKER_KEY,
        api_key_env="VAR",
        max_tokens=10,
        system_prompt="Be formal.",
        headers={"X-A": "1"},
        timeout=30.0,
    )
    data = preset.to_dict()
    assert data == {
        "name": "p",
        "base_url": "http://h/v1?x=1",
        "model": "m",
        "api_key_env": "VAR",
        "max_tokens": 10,
        "system_prompt": "Be formal.",
        "headers": {"X-A": "1"},
        "timeout": 30.0,
    }
    # A key smuggled into the file (or an unknown field) is ignored on load.
    again = Preset.from_dict({**data, "api_key": "sk-from-file", "unknown": 1})
    assert again == preset.replace(api_key=None)


def test_builtin_catalog() -> None:
    expected = {
        "Ollama": ("http://localhost:11434/v1", None),
        "LM Studio": ("http://127.0.0.1:1234/v1", None),
        "Preset 1": ("", None),
        "Preset 2": ("", None),
        "vLLM": ("http://localhost:8000/v1", None),
        "llama.cpp": ("http://localhost:8080/v1", None),
        "OpenAI": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
        "OpenRouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        "Together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        "Google AI": (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "GEMINI_API_KEY",
        ),
        "Cohere": ("https://api.cohere.com/compatibility/v1", "COHERE_API_KEY"),
    }
    for name, (url, env) in expected.items():
        preset = BUILTIN_PRESETS[name]
        assert (preset.base_url, preset.api_key_env) == (url, env), name
        assert preset.api_key is None
    for name in ("Groq", "DeepSeek", "Mistral"):
        assert BUILTIN_PRESETS[name].base_url.startswith("https://")
        assert BUILTIN_PRESETS[name].api_key_env
    assert list(BUILTIN_PRESETS)[:4] == ["Ollama", "LM Studio", "Preset 1", "Preset 2"]
    assert not BUILTIN_PRESETS["Preset 1"].usable and not BUILTIN_PRESETS["Preset 2"].usable


@pytest.mark.parametrize(
    ("field", "value", "wording"),
    [
        ("temperature", 2.5, "from 0 to 2"),
        ("temperature", "hot", "from 0 to 2"),
        ("temperature", float("nan"), "from 0 to 2"),
        ("max_tokens", 0, "whole number from 1 to 2147483647"),
        ("max_tokens", 2.5, "whole number from 1 to 2147483647"),
        ("max_tokens", 10**30, "whole number from 1 to 2147483647"),
        ("timeout", 0, "above 0"),
        ("timeout", float("inf"), "at most 86400"),
        ("timeout", float("nan"), "above 0"),
        ("timeout", 1e10, "at most 86400"),
        ("input_price", -1, "0 or more"),
        ("output_price", float("inf"), "0 or more"),
        ("deadline", float("nan"), "above 0"),
        ("deadline", 0, "above 0"),
        ("concurrency", 0, "whole number from 1 to 64"),
        ("concurrency", 1.5, "whole number from 1 to 64"),
    ],
)
def test_out_of_range_options_are_refused_with_the_fix(field, value, wording):
    with pytest.raises(ConfigError) as info:
        Preset("p", "http://h/v1", "m", **{field: value})
    assert wording in info.value.message
    # The fix names what applies unset: only sampling options fall to the server.
    unset = {
        "temperature": "the server's default",
        "max_tokens": "the server's default",
        "timeout": "the client's 300 s",
        "deadline": "the client's 1800 s",
        "concurrency": "each command's own",
        "input_price": "no cost figures",
        "output_price": "no cost figures",
    }[field]
    assert f"leave it empty for {unset}." in info.value.message


def test_secret_looking_headers_must_come_from_the_environment(monkeypatch, server):
    with pytest.raises(ConfigError, match=r"looks like a secret.*\$\{VAR\}"):
        Preset("p", server.base_url, "test-model", headers={"x-api-key": "plain-secret"})

    preset = Preset("p", server.base_url, "test-model", headers={"api-key": "${GATEWAY_KEY}"})
    with pytest.raises(ConfigError, match=r"reads \$GATEWAY_KEY, which is not set"):
        preset.request_headers()

    monkeypatch.setenv("GATEWAY_KEY", "from-env")
    compat_nb.get_client().chat(preset, [{"role": "user", "content": "hi"}])
    assert server.chat_requests()[-1].headers["api-key"] == "from-env"
    assert preset.to_dict()["headers"] == {"api-key": "${GATEWAY_KEY}"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://localhost:11434v1", "cannot be used"),
        ("htp://127.0.0.1:8080/v1", "must start with http:// or https://"),
        ("http:/127.0.0.1:8080/v1", "did you mean 'http://127.0.0.1:8080/v1'"),
        ("http://[::1", "cannot be used"),
        ("ftp://example.com/v1", "must start with http:// or https://"),
    ],
)
def test_unusable_base_urls_are_refused_with_what_to_type(url, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        Preset("p", url, "m")


def test_a_url_with_a_password_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as info:
        Preset("p", "http://user:s3cret-pw@gateway.local/v1", "m")
    assert "s3cret-pw" not in info.value.message
    assert "gateway.local" in info.value.message


def test_a_key_read_from_a_file_loses_its_newline_and_a_broken_one_is_refused():
    assert Preset("p", "http://h/v1", "m", api_key=MARKER_KEY + "\n").api_key == MARKER_KEY
    with pytest.raises(ConfigError) as info:
        Preset("p", "http://h/v1", "m", api_key="sk-abc\ndef")
    assert "sk-abc" not in info.value.message


def test_a_model_id_must_be_text():
    with pytest.raises(ConfigError, match="model id must be text"):
        Preset("p", "http://h/v1", 5)  # type: ignore[arg-type]
