"""`%%translate` and `%translate <command>` through a real IPython shell and the test server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer

import compat_nb.faces.display
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.display import StreamDisplay
from compat_nb.work.translation import Translation

FOOTER = re.compile(
    r"— (?P<preset>[^·]+) · (?P<model>[^·]+) · TTFT [\d.]+ m?s · total [\d.]+ m?s · "
    r"\d+ tokens · [\d.]+ tok/s"
)


def run(ip: Any, capsys: pytest.CaptureFixture[str], cell: str) -> tuple[Any, str]:
    """Run a cell; return its result and everything it printed (stdout and stderr)."""
    result = ip.run_cell(cell)
    captured = capsys.readouterr()
    return result, captured.out + captured.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_message(request: Any) -> str:
    (user,) = [m for m in request.body["messages"] if m["role"] == "user"]
    return user["content"]


def system_message(request: Any) -> str:
    (system,) = [m for m in request.body["messages"] if m["role"] == "system"]
    return system["content"]


@pytest.fixture
def active(server: FakeServer) -> Preset:
    """A saved preset named 'srv' pointing at the loopback server, made active."""
    store = get_store()
    store.save(Preset("srv", server.base_url, "test-model"))
    return store.use("srv")


class FakeHandle:
    def __init__(self, log: list[dict[str, str]]) -> None:
        self.log = log

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.log.append(bundle)


@pytest.fixture
def kernel_display(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Pretend to be in a kernel: every display() / update() bundle is recorded in order."""
    log: list[dict[str, str]] = []

    def display(bundle: dict[str, str], raw: bool = False, display_id: bool = False) -> Any:
        assert raw and display_id
        log.append(bundle)
        return FakeHandle(log)

    monkeypatch.setattr("IPython.display.display", display)
    monkeypatch.setattr(compat_nb.faces.display, "in_kernel", lambda: True)
    return log


@pytest.fixture
def clean_ns(ip: Any) -> Iterator[Any]:
    yield ip
    for name in ("res", "out"):
        ip.user_ns.pop(name, None)


# --- the cell --------------------------------------------------------------------------------


def test_translate_prints_translation_and_footer(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, "%%translate --to French\nThe weather is nice today.")
    assert result.error_in_exec is None
    assert "TRANSLATED: The weather is nice today." in out
    footer = FOOTER.search(out)
    assert footer is not None, out
    assert footer["preset"] == "srv" and footer["model"] == "test-model"
    assert "Traceback" not in out
    assert len(server.requests) == 1  # one POST, no /models on the way
    (request,) = server.chat_requests()
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.body["stream"] is True
    assert user_message(request) == "The weather is nice today."
    assert "authorization" not in request.headers
    assert "temperature" not in request.body and "max_tokens" not in request.body


def test_cell_text_is_sent_verbatim(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        'Config: {"a": {b}} and {name} and $HOME and %s and {{x}}\n'
        "```python\n"
        "data = {'k': [1, 2]}\n"
        'print(f"{data!r}")\n'
        "```\n"
        "Tabs\tand trailing spaces   \n"
        "\\(x^2\\) https://example.com/a?b=1"
    )
    result, _ = run(ip, capsys, "%%translate -t German\n" + body)
    assert result.error_in_exec is None
    (request,) = server.chat_requests()
    assert user_message(request) == body


def test_system_prompt_has_target_and_preset_prompt_after_fixed_part(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    store = get_store()
    store.save(Preset("styled", server.base_url, "test-model", system_prompt="Use the tu form."))
    store.use("styled")
    run(ip, capsys, "%%translate --to French\nHello")
    run(ip, capsys, "%%translate --to Italian --from English --system 'Be terse.'\nHello")
    first, second = (system_message(r) for r in server.chat_requests())
    assert first.startswith("You are a translation engine.")
    assert "into French (fr)" in first
    assert "Keep Markdown" in first and "Output only the translation" in first
    assert first.index("Output only the translation") < first.index("Use the tu form.")
    assert first.endswith("Use the tu form.")
    # A flag's prompt replaces the preset's extra prompt, never the fixed instruction.
    assert "into Italian (it) from English (en)" in second
    assert second.startswith("You are a translation engine.") and second.endswith("Be terse.")


def test_preset_names_with_spaces(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    store = get_store()
    store.save(Preset("My Server", server.base_url, "other-model"))
    store.save(Preset("LM Studio", server.base_url, "llama3.2:3b"))
    result, out = run(ip, capsys, '%%translate -p "My Server"\nHi')
    assert result.error_in_exec is None and "My Server · other-model" in out
    result, out = run(ip, capsys, "%%translate --preset 'lm studio'\nHi")
    assert result.error_in_exec is None and "LM Studio · llama3.2:3b" in out
    assert [r.body["model"] for r in server.chat_requests()] == ["other-model", "llama3.2:3b"]


def test_model_flag_keeps_the_colon(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, "%%translate -m llama3.2:3b\nHi")
    assert result.error_in_exec is None
    assert server.chat_requests()[0].body["model"] == "llama3.2:3b"
    assert "srv · llama3.2:3b" in out


def test_base_url_flag_needs_no_saved_preset(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert get_store().active_name is None
    url = server.base_url + "/chat/completions"
    result, out = run(ip, capsys, f"%%translate --base-url {url} -m other-model\nHi")
    assert result.error_in_exec is None, out
    assert "TRANSLATED: Hi" in out
    assert f"127.0.0.1:{server.port} · other-model" in out
    assert server.chat_requests()[0].body["model"] == "other-model"
    assert server.chat_requests()[0].path == "/v1/chat/completions"


def test_base_url_flag_without_v1_hints_at_v1(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, f"%%translate --base-url {server.url} -m test-model\nHi")
    assert type(result.error_in_exec).__name__ == "NotFoundError"
    assert f"did you mean {server.url}/v1?" in out and "Traceback" not in out


def test_base_url_flag_without_model_is_a_usage_error(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, f"%%translate --base-url {server.base_url}\nHi")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Model name is empty" in out and "Traceback" not in out
    assert server.requests == []


def test_api_key_env_flag_sends_that_key(
    ip: Any,
    server: FakeServer,
    active: Preset,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_KEY_FOR_TEST", MARKER_KEY)
    server.api_key = MARKER_KEY
    result, out = run(ip, capsys, "%%translate --api-key-env GATEWAY_KEY_FOR_TEST\nHi")
    assert result.error_in_exec is None, out
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {MARKER_KEY}"
    assert MARKER_KEY not in out


@pytest.mark.parametrize("flag", ["--api-key sk-typed-123", "--api-key=sk-typed-123"])
def test_api_key_flag_is_refused(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    result, out = run(ip, capsys, f"%%translate {flag}\nHi")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "never taken as a flag" in out and "--api-key-env" in out
    assert "Traceback" not in out
    assert server.requests == []


def test_abbreviated_api_key_flag_is_refused_too(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse would read `--api-ke KEY` as `--api-key-env KEY`: a typed key taken as a flag
    # value (and echoed back as "$KEY is not set").
    result, _ = run(ip, capsys, f"%%translate --api-ke {MARKER_KEY}\nHi")
    assert type(result.error_in_exec).__name__ == "UsageError", (
        "an abbreviated --api-key must be refused, not read as --api-key-env"
    )
    assert server.requests == []


@pytest.mark.parametrize(
    ("line", "phrase"),
    [
        ("--bogus", "unrecognized arguments: --bogus"),
        ("--max-tokens many", "--max-tokens: must be a whole number from 1 to 2147483647"),
        ("--format html", "invalid choice"),
        ("-p 'unclosed", "check the quotes"),
        ("-p NoSuchPreset", "No preset named 'NoSuchPreset'"),
    ],
)
def test_bad_flags_are_usage_errors(
    ip: Any,
    server: FakeServer,
    active: Preset,
    capsys: pytest.CaptureFixture[str],
    line: str,
    phrase: str,
) -> None:
    result, out = run(ip, capsys, f"%%translate {line}\nHi")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert phrase in out
    assert "Traceback" not in out
    assert server.requests == []


def test_empty_cell_is_a_usage_error(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, "%%translate\n   ")
    assert type(result.error_in_exec).__name__ == "UsageError" and "empty" in out
    assert server.requests == []


def test_unusable_or_missing_preset_is_a_usage_error(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result, out = run(ip, capsys, "%%translate\nHi")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "No preset chosen yet" in out and "%translate use NAME" in out
    # `%translate use` refuses it, as the panel's Use does, saying how to fill it in here.
    result, out = run(ip, capsys, '%translate use "Preset 1"')
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "'Preset 1' is not usable yet" in out
    assert "Base URL is empty and Model name is empty" in out
    assert '`%translate set "Preset 1" base_url=URL model=MODEL`' in out
    assert "settings" not in out  # a terminal is never sent to the panel
    result, out = run(ip, capsys, '%%translate -p "Preset 1"\nHi')
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "'Preset 1' is not usable yet" in out
    assert "Traceback" not in out
    assert server.requests == []


# --- faults ----------------------------------------------------------------------------------

MAGIC_FAULTS = [
    ("401", {}, "AuthenticationError", "Server reachable, key rejected (401)"),
    ("403", {}, "AuthenticationError", "Server reachable, key rejected (403)"),
    ("404_model", {}, "NotFoundError", "Model 'test-model' not found"),
    ("429", {"times": 3}, "RateLimitError", "Rate limited (429)"),
    ("500", {"times": 3}, "ServerError", "Server error 500"),
    ("502", {"times": 3}, "ServerError", "502 Bad Gateway"),
    ("503", {"times": 3}, "ServerError", "Server error 503"),
    ("504", {"times": 3}, "ServerError", "504 Gateway Time-out"),
    ("validation_500", {}, "BadRequestError", "validation error"),
    ("html", {}, "InvalidResponseError", "HTML page"),
    ("error_body", {}, "InvalidResponseError", "answered 200 with an error"),
    ("no_choices", {}, "InvalidResponseError", "without `choices`"),
    ("broken_stream", {}, "StreamError", "broke off"),
    ("stream_error", {}, "StreamError", "upstream overloaded"),
]


@pytest.mark.parametrize(("fault", "params", "cls", "phrase"), MAGIC_FAULTS)
def test_fault_is_one_paragraph_without_traceback(
    ip: Any,
    server: FakeServer,
    active: Preset,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    params: dict[str, Any],
    cls: str,
    phrase: str,
) -> None:
    server.inject(fault, **params)
    result, out = run(ip, capsys, "%%translate\nHello")
    assert type(result.error_in_exec).__name__ == cls
    (line,) = [line for line in out.splitlines() if line.startswith(f"{cls}: ")]
    assert phrase in line
    assert line == f"{cls}: {result.error_in_exec.message}"  # the whole message, one line
    assert "Traceback" not in out and "File " not in out
    # The next cell works: nothing is left broken.
    result, out = run(ip, capsys, "%%translate\nAgain")
    assert result.error_in_exec is None and "TRANSLATED: Again" in out


@pytest.mark.parametrize("flags", ["", "--no-stream"])
def test_connection_refused_and_timeout_in_the_cell(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str], flags: str
) -> None:
    store = get_store()
    store.save(Preset("down", f"http://127.0.0.1:{closed_port()}/v1", "m"))
    result, out = run(ip, capsys, f"%%translate -p down {flags}\nHi")
    assert type(result.error_in_exec).__name__ == "ConnectError"
    assert "ConnectError: Could not connect to http://127.0.0.1:" in out
    assert "Traceback" not in out
    store.save(Preset("srv", server.base_url, "test-model"))
    server.inject("hang", seconds=3)
    result, out = run(ip, capsys, f"%%translate -p srv --timeout 0.3 {flags}\nHi")
    assert type(result.error_in_exec).__name__ == "RequestTimeout"
    assert "did not answer" in out and "--timeout" in out and "Traceback" not in out


def test_broken_stream_keeps_partial_text(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.reply = "alpha beta gamma delta"
    server.inject("broken_stream", after=2)
    result, out = run(ip, capsys, "%%translate -o res\nHi")
    assert type(result.error_in_exec).__name__ == "StreamError"
    assert "alpha beta" in out and "failed: partial text" in out
    kept = ip.user_ns["res"]
    assert isinstance(kept, Translation)
    assert kept.text == "alpha beta" and kept.error and "broke off" in kept.error
    assert len(server.chat_requests()) == 1  # never retried once text arrived


# --- options ---------------------------------------------------------------------------------


def test_out_stores_a_translation(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result, _ = run(ip, capsys, "%%translate -o res --to Spanish --temperature 0.2\nGood night")
    assert result.error_in_exec is None
    translation = ip.user_ns["res"]
    assert isinstance(translation, Translation)
    assert translation.text == "TRANSLATED: Good night"
    assert translation.source_text == "Good night"
    assert translation.target_language == "Spanish"
    assert (translation.preset, translation.model) == ("srv", "test-model")
    assert translation.latency_ms is not None and translation.ttft_ms is not None
    assert translation.usage is not None and translation.output_tokens == 3
    assert not translation.interrupted and translation.error is None
    assert server.chat_requests()[0].body["temperature"] == 0.2


def test_no_stream(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result, out = run(ip, capsys, "%%translate --no-stream --max-tokens 64 -o res\nHi")
    assert result.error_in_exec is None
    body = server.chat_requests()[0].body
    assert body["stream"] is False and "stream_options" not in body
    assert body["max_tokens"] == 64
    assert "TRANSLATED: Hi" in out and "srv · test-model · total" in out
    assert ip.user_ns["res"].ttft_ms is None


def test_stream_trait_off_means_no_stream(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        run(ip, capsys, "%config TranslateMagics.stream = False")
        result, out = run(ip, capsys, "%%translate\nHi")
    finally:
        run(ip, capsys, "%config TranslateMagics.stream = True")
    assert result.error_in_exec is None and "TRANSLATED: Hi" in out
    assert server.chat_requests()[0].body["stream"] is False


def test_format_text_and_markdown_in_a_kernel(
    ip: Any,
    server: FakeServer,
    active: Preset,
    capsys: pytest.CaptureFixture[str],
    kernel_display: list[dict[str, str]],
) -> None:
    result, _ = run(ip, capsys, "%%translate --format text\nHi *there*")
    assert result.error_in_exec is None
    final = kernel_display[-1]
    assert set(final) == {"text/plain"}
    assert final["text/plain"].startswith("TRANSLATED: Hi *there*\n\n— srv · test-model")
    kernel_display.clear()
    result, _ = run(ip, capsys, "%%translate\nHi *there*")
    final = kernel_display[-1]
    assert re.match(
        r"TRANSLATED: Hi \*there\*\n\n<sub class='[^']*compat-nb-muted'[^>]*>srv · test-model",
        final["text/markdown"],
    )
    assert "text/plain" in final


def test_wrapping_fence_is_removed(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
    kernel_display: list[dict[str, str]],
) -> None:
    server.inject("fence")
    run(ip, capsys, "%%translate -o res\nHello there")
    assert ip.user_ns["res"].text == "TRANSLATED: Hello there"
    assert kernel_display[-1]["text/markdown"].startswith("TRANSLATED: Hello there\n\n<sub ")
    assert "```" not in kernel_display[-1]["text/markdown"]


def test_fence_the_source_had_is_kept(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.reply = lambda body: body["messages"][-1]["content"]  # echo
    source = "```python\nprint({'a': 1})\n```"
    run(ip, capsys, "%%translate -o res\n" + source)
    assert ip.user_ns["res"].text == source


def test_think_preamble_never_reaches_the_output(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.inject("think")
    result, out = run(ip, capsys, "%%translate -o res\nHello")
    assert result.error_in_exec is None
    assert "think" not in out.lower() and "<" not in out
    assert ip.user_ns["res"].text == "TRANSLATED: Hello"
    assert ip.user_ns["res"].reasoning == "Let me think about this."


def test_config_target_language(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        run(ip, capsys, '%config TranslateMagics.target_language = "German"')
        run(ip, capsys, "%%translate\nHello")
        run(ip, capsys, "%%translate -t Japanese\nHello")
    finally:
        run(ip, capsys, '%config TranslateMagics.target_language = "English"')
    run(ip, capsys, "%%translate\nHello")
    german, japanese, english = (system_message(r) for r in server.chat_requests())
    assert "into German" in german
    assert "into Japanese" in japanese and "German" not in japanese
    assert "into English" in english


# --- interrupting ----------------------------------------------------------------------------


def test_interrupt_keeps_partial_text_and_next_cell_works(
    ip: Any,
    server: FakeServer,
    active: Preset,
    clean_ns: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.reply = " ".join(f"word{i}" for i in range(200))
    server.inject("slow_stream", chunk_delay=0.05)
    original = StreamDisplay.append
    calls = {"n": 0}

    def append(self: StreamDisplay, delta: str) -> None:
        original(self, delta)
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as Ctrl-C in the middle of the stream

    monkeypatch.setattr(StreamDisplay, "append", append)
    result, out = run(ip, capsys, "%%translate -o res\nA long text")
    assert result.error_in_exec is None
    assert "word0 word1 word2" in out and "word3" not in out
    assert "interrupted: partial text" in out
    assert "Interrupted: the partial translation above is kept." in out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    kept = ip.user_ns["res"]
    assert kept.interrupted and kept.text == "word0 word1 word2"
    server.reply = None
    result, out = run(ip, capsys, "%%translate\nAgain")
    assert result.error_in_exec is None and "TRANSLATED: Again" in out
    assert len(server.chat_requests()) == 2


# --- the display (the kernel side is in test_display.py) -----------------------------------


def test_stream_display_in_terminal_prints_deltas(capsys: pytest.CaptureFixture[str]) -> None:
    view = StreamDisplay(kernel=False)
    view.start()
    for piece in ("Bon", "jour"):
        view.append(piece)
    view.finish(footer="p · m")
    assert capsys.readouterr().out == "Bonjour\n— p · m\n"


# --- commands --------------------------------------------------------------------------------


def test_use_command(ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    get_store().save(Preset("srv", server.base_url, "test-model"))
    result, out = run(ip, capsys, "%translate use SRV")
    assert result.error_in_exec is None
    assert f"%%translate now uses 'srv' ({server.base_url}, model test-model)." in out
    assert get_store().active_name == "srv"
    result, out = run(ip, capsys, '%translate use "LM Studio"')
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert get_store().active_name == "srv"
    assert "Model name is empty" in out and '`%translate models "LM Studio"`' in out
    result, out = run(ip, capsys, "%translate use nope")
    assert type(result.error_in_exec).__name__ == "UsageError" and "No preset named" in out
    result, out = run(ip, capsys, "%translate use")
    assert type(result.error_in_exec).__name__ == "UsageError"


def test_presets_command_shows_key_status_never_the_key(
    ip: Any,
    server: FakeServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = get_store()
    store.save(Preset("keyed", server.base_url, "test-model", api_key=MARKER_KEY))
    store.save(Preset("from env", server.base_url, "test-model", api_key_env="PRESETS_TEST_KEY"))
    store.save(Preset("keyless", server.base_url, "test-model"))
    store.use("keyed")
    monkeypatch.setenv("PRESETS_TEST_KEY", "sk-env-value-999")
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: no cells cut
    result, out = run(ip, capsys, "%translate presets")
    assert result.error_in_exec is None
    rows = {
        line.split()[0] if not line.startswith("*") else line.split()[1]: line
        for line in out.splitlines()
        if server.base_url in line
    }
    assert re.search(r"^\*\s+keyed\s.*\s+set\s+yes$", rows["keyed"])
    assert re.search(r"\s+env\s+yes$", rows["from"])
    assert re.search(r"\s+none\s+yes$", rows["keyless"])
    assert MARKER_KEY not in out and "sk-env-value-999" not in out
    assert "LM Studio" in out and "Model name is empty" in out
    assert result.result is not None and MARKER_KEY not in result.result._repr_html_()


def test_test_command(ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    store = get_store()
    store.save(Preset("My Server", server.base_url, "test-model"))
    store.save(Preset("down", f"http://127.0.0.1:{closed_port()}/v1", "m"))
    store.use("My Server")
    result, out = run(ip, capsys, "%translate test")
    assert result.error_in_exec is None
    assert re.search(r"^My Server: Connected\. Found 3 models\. Latency: \d+ ms$", out, re.M)
    assert "Models: test-model, other-model, llama3.2:3b" in out
    result, out = run(ip, capsys, '%translate test "my server"')
    assert re.search(r"Connected\. Found 3 models\. Latency: \d+ ms", out)
    result, out = run(ip, capsys, "%translate test down")
    assert result.error_in_exec is None
    assert "down: Could not connect" in out
    server.inject("401")
    result, out = run(ip, capsys, "%translate test")
    assert "Server reachable, key rejected" in out
    assert [r.path for r in server.requests] == ["/v1/models"] * 3


def test_test_command_root_without_v1(
    ip: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    get_store().save(Preset("root", server.url, "test-model"))
    _, out = run(ip, capsys, "%translate test root")
    assert f"did you mean {server.url}/v1?" in out


def test_help_and_unknown_command(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result, out = run(ip, capsys, "%translate")
    assert result.error_in_exec is None and "%translate use NAME" in out
    result, out = run(ip, capsys, "%translate frobnicate")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Unknown command 'frobnicate'" in out and "Traceback" not in out


def test_terminal_prints_the_translation_once_whatever_trails_the_cell(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    server.reply = "Bonjour le monde"
    _, out = run(ip, capsys, "%%translate --to French\nHello world\n\n\n")
    assert out.count("Bonjour le monde") == 1
    assert user_message(server.chat_requests()[-1]) == "Hello world"


def test_terminal_reprints_only_when_the_clean_up_changed_the_text(
    ip: Any, server: FakeServer, active: Preset, capsys: pytest.CaptureFixture[str]
) -> None:
    server.inject("fence")
    _, out = run(ip, capsys, "%%translate --to French\nHello")
    assert "```" in out  # the stream showed the fence as it came ...
    assert out.rstrip().splitlines()[-2] == "TRANSLATED: Hello"  # ... the final text has none
