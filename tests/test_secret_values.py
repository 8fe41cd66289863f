"""Secrets decided by value: a key where a name belongs is refused, never saved, never echoed;
environment values are checked like typed keys; no exception carries a key or a header dict.
"""

from __future__ import annotations

import json
import secrets
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import CompatError, ConfigError
from compat_nb.wire.client import get_client

MESSAGES = [{"role": "user", "content": "Hello"}]
HEX_KEY = secrets.token_hex(16)  # Azure / API Management keys: no prefix, only randomness
PASTED_KEYS = {
    "openai": MARKER_KEY,
    "groq": "gsk_" + secrets.token_urlsafe(39).replace("-", "a").replace("_", "b"),
    "google": "AIza" + secrets.token_urlsafe(26).replace("-", "a").replace("_", "b"),
    "azure hex": HEX_KEY,
    "with a space": "sk-abc def" + secrets.token_hex(8),
}


def exception_texts(exc: BaseException, *, frames: bool = True) -> Iterator[str]:
    """Everything an exception lets a reader see: messages, args, attributes, the chained
    exceptions, and the repr of every local of every frame (what `%xmode Verbose` prints).

    The test's own frames are left out: they hold the values the test passed in."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield str(current)
        yield repr(current.args)
        yield from (_safe_repr(v) for v in vars(current).values())
        tb = current.__traceback__ if frames else None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename != __file__:
                yield from (_safe_repr(v) for v in tb.tb_frame.f_locals.values())
            tb = tb.tb_next
        todo += [current.__cause__, current.__context__]


def _safe_repr(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return ""
    try:
        return repr(value)
    except Exception:
        return ""


def assert_clean(exc: BaseException, *secrets_: str, frames: bool = True) -> None:
    """No secret in what exc shows. frames=False for a value the caller passed in itself: the
    constructor's own frame holds its arguments, as any Python function's does."""
    for text in exception_texts(exc, frames=frames):
        for secret in secrets_:
            assert secret not in text, text


@pytest.fixture
def verbose(ip: Any) -> Iterator[Any]:
    """The shell with `%xmode Verbose`: tracebacks print every frame's locals."""
    ip.run_line_magic("xmode", "Verbose")
    yield ip
    ip.run_line_magic("xmode", "Context")


# --- a key pasted where a variable name belongs -------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PASTED_KEYS))
def test_a_key_pasted_as_the_variable_name_is_refused_unsaved_unechoed(
    kind: str, server: FakeServer, config_dir: Path
) -> None:
    pasted = PASTED_KEYS[kind]
    with pytest.raises(ConfigError) as info:
        get_store().save(Preset("gw", server.base_url, "test-model", api_key_env=pasted))
    assert pasted not in info.value.message and pasted[:8] not in info.value.message
    assert "environment variable" in info.value.message and "API key field" in info.value.message
    assert_clean(info.value, pasted, frames=False)
    with pytest.raises(ConfigError) as info:
        unkeyed = Preset("gw", server.base_url, "test-model")
        compat_nb.translate("Hi", preset=unkeyed, api_key_env=pasted)
    assert_clean(info.value, pasted, frames=False)
    assert not (config_dir / "presets.json").exists()
    assert server.chat_requests() == []


def test_the_magic_refuses_a_key_as_api_key_env_without_echoing_it(
    ip: Any, server: FakeServer, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    get_store().save(Preset("T", server.base_url, "test-model"))
    get_store().use("T")
    result = ip.run_cell(f"%%translate --api-key-env {HEX_KEY}\nHello")
    out = capsys.readouterr()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "looks like an API key" in str(result.error_in_exec)
    assert HEX_KEY not in out.out + out.err + str(result.error_in_exec)
    assert HEX_KEY not in (config_dir / "presets.json").read_text()
    assert server.chat_requests() == []


def test_variable_references_and_scheme_prefixes_are_read_as_meant(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_TOKEN", MARKER_KEY)
    for spelled in ("GATEWAY_TOKEN", "$GATEWAY_TOKEN", "${GATEWAY_TOKEN}", " GATEWAY_TOKEN\n"):
        assert Preset("p", server.base_url, "m", api_key_env=spelled).api_key_env == "GATEWAY_TOKEN"
    # A key copied from docs with its scheme is sent once, as Bearer <key>.
    preset = Preset("p", server.base_url, "test-model", api_key="Bearer " + MARKER_KEY)
    get_client().chat(preset, MESSAGES)
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"
    with pytest.raises(ConfigError, match="is the name of an environment variable"):
        Preset("p", server.base_url, "m", api_key="OPENAI_API_KEY")


def test_a_key_in_the_model_or_name_field_is_refused_without_echoing_it() -> None:
    for fields in ({"name": "p", "model": MARKER_KEY}, {"name": MARKER_KEY, "model": "m"}):
        with pytest.raises(ConfigError) as info:
            Preset(base_url="http://h/v1", **fields)
        assert "looks like an API key" in info.value.message
        assert_clean(info.value, MARKER_KEY, frames=False)


# --- literal secrets in extra headers, whatever the header is called ----------------------------


@pytest.mark.parametrize(
    "header", ["Ocp-Apim-Subscription-Key", "X-Functions-Key", "X-Gateway", "api-key", "X-Custom"]
)
@pytest.mark.parametrize("value", [HEX_KEY, MARKER_KEY], ids=["hex", "prefixed"])
def test_a_literal_secret_header_value_is_refused_by_value_with_the_var_fix(
    header: str, value: str, config_dir: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError) as info:
        get_store().save(Preset("gw", server.base_url, "test-model", headers={header: value}))
    assert "${VAR}" in info.value.message and header in info.value.message
    assert_clean(info.value, value, frames=False)
    assert not (config_dir / "presets.json").exists()

    # The fix the message gives works: the value goes on the wire, the file keeps ${VAR}.
    monkeypatch.setenv("GW_KEY", value)
    by_var = Preset("gw", server.base_url, "test-model", headers={header: "${GW_KEY}"})
    saved = get_store().save(by_var)
    get_client().chat(saved, MESSAGES)
    assert server.chat_requests()[-1].headers[header.lower()] == value
    assert value not in (config_dir / "presets.json").read_text()


def test_ordinary_header_values_are_kept_as_typed(server: FakeServer) -> None:
    headers = {
        "api-version": "2024-02-01",
        "OpenAI-Organization": "org-AbCdEf1234567890GhIjKlMn",  # an id, not a secret
        "HTTP-Referer": "https://example.com/my-app",
        "X-Title": "My App",
    }
    preset = Preset("p", server.base_url, "test-model", headers=headers)
    get_client().chat(preset, MESSAGES)
    sent = server.chat_requests()[-1].headers
    assert {k: sent[k.lower()] for k in headers} == headers


# --- environment values checked like typed keys -------------------------------------------------

BAD_VALUES = {
    "zero width space": (MARKER_KEY[:8] + "\u200b" + MARKER_KEY[8:], "U+200B ZERO WIDTH SPACE"),
    "byte order mark": ("\ufeff" + MARKER_KEY, "U+FEFF"),
    "non-ascii letter": (MARKER_KEY.replace("a", "á"), "U+00E1"),
    "inner newline": (MARKER_KEY[:8] + "\n" + MARKER_KEY[8:], "a line break"),
    "inner space": (MARKER_KEY[:8] + " " + MARKER_KEY[8:], "space inside"),
}


@pytest.mark.parametrize("kind", sorted(BAD_VALUES))
def test_a_bad_key_variable_is_named_never_shown_on_every_entry_point(
    kind: str, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    value, says = BAD_VALUES[kind]
    monkeypatch.setenv("BAD_KEY_VAR", value)
    preset = Preset("envkey", server.base_url, "test-model", api_key_env="BAD_KEY_VAR")
    client = get_client()
    failures = []
    for call in (
        lambda: client.chat(preset, MESSAGES),
        lambda: list(client.stream(preset, MESSAGES)),
        lambda: compat_nb.translate("Hi", preset=preset),
    ):
        with pytest.raises(CompatError) as info:
            call()
        failures.append(info.value)
    report = client.test_connection(preset)
    assert not report.ok
    for failure in failures:
        assert "BAD_KEY_VAR" in failure.message and says in failure.message
        assert_clean(failure, value, MARKER_KEY[8:])
    assert "BAD_KEY_VAR" in (report.error or "") and MARKER_KEY[8:] not in repr(report)
    assert server.requests == []  # nothing half-built reached the wire


def test_a_bad_header_variable_is_named_and_no_header_dict_is_left_in_a_frame(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, bad = "gw-" + secrets.token_hex(12), MARKER_KEY + "\u200b"
    monkeypatch.setenv("GOOD_VAR", good)
    monkeypatch.setenv("BAD_VAR", bad)
    monkeypatch.setenv("KEY_VAR", MARKER_KEY)
    preset = Preset(
        "gw",
        server.base_url,
        "test-model",
        api_key_env="KEY_VAR",
        headers={"X-First": "${GOOD_VAR}", "X-Second": "${BAD_VAR}"},
    )
    with pytest.raises(ConfigError) as info:
        get_client().chat(preset, MESSAGES)
    assert "BAD_VAR" in info.value.message and "'X-Second' header" in info.value.message
    assert_clean(info.value, good, MARKER_KEY)
    assert server.requests == []


@pytest.mark.parametrize(
    ("content", "options", "said"),
    [
        (object(), {}, "cannot be sent as JSON"),
        (b"bytes", {}, "cannot be sent as JSON"),
        # Options are checked (config/options.py) before the body is even encoded.
        ("Hello", {"temperature": float("nan")}, "temperature must be a number from 0 to 2"),
    ],
    ids=["object", "bytes", "nan"],
)
def test_a_body_that_cannot_be_sent_fails_before_any_header_exists(
    server: FakeServer, content: Any, options: dict[str, Any], said: str
) -> None:
    preset = Preset("p", server.base_url, "test-model", api_key=MARKER_KEY)
    with pytest.raises(ConfigError, match=said) as info:
        get_client().chat(preset, [{"role": "user", "content": content}], **options)
    assert_clean(info.value, MARKER_KEY)
    assert server.requests == []


def test_a_rejected_key_leaves_no_trace_in_the_error(server: FakeServer) -> None:
    server.api_key = "the-right-one-123456"
    preset = Preset("p", server.base_url, "test-model", api_key=MARKER_KEY)
    for call in (
        lambda: get_client().chat(preset, MESSAGES),
        lambda: list(get_client().stream(preset, MESSAGES)),
    ):
        with pytest.raises(CompatError) as info:
            call()
        assert_clean(info.value, MARKER_KEY)
    assert server.requests[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"


def test_under_xmode_verbose_a_bad_variable_is_one_paragraph_without_the_key(
    verbose: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("ZW_KEY", BAD_VALUES["zero width space"][0])
    get_store().save(Preset("zw", server.base_url, "test-model", api_key_env="ZW_KEY"))
    get_store().use("zw")
    cells = [
        "%%translate\nHello",
        "%%translate --no-stream\nHello",
        "import compat_nb\ncompat_nb.translate('Hello')",
        "from compat_nb.wire.client import get_client\n"
        "get_client().chat(compat_nb.get_store().active, [{'role': 'user', 'content': 'x'}])",
        "%translate test",
    ]
    results = [verbose.run_cell(cell) for cell in cells]
    out = capsys.readouterr()
    shown = out.out + out.err
    assert [type(r.error_in_exec).__name__ for r in results[:4]] == ["ConfigError"] * 4
    assert shown.count("environment variable ZW_KEY (key) holds an invisible character") >= 5
    assert "Traceback" not in shown and "UnicodeEncodeError" not in shown
    assert MARKER_KEY[8:] not in shown
    assert sys.last_value is not None  # type: ignore[attr-defined]
    assert_clean(sys.last_value, MARKER_KEY[8:])  # type: ignore[attr-defined]
    assert server.requests == []


def test_presets_file_never_holds_a_refused_value(config_dir: Path) -> None:
    store = get_store()
    store.save(Preset("kept", "http://127.0.0.1:9/v1", "m"))
    before = (config_dir / "presets.json").read_text()
    for fields in (
        {"api_key_env": MARKER_KEY},
        {"headers": {"X-Functions-Key": HEX_KEY}},
        {"model": MARKER_KEY},
    ):
        with pytest.raises(ConfigError):
            store.save(Preset("kept", "http://127.0.0.1:9/v1", **{"model": "m", **fields}))
    assert (config_dir / "presets.json").read_text() == before
    assert json.loads(before)["presets"]["kept"]["model"] == "m"
