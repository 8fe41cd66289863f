"""Tab completion for `%translate` and `%%translate`: commands, flags, presets, models, languages.

Completion never touches the network: model ids come from the last `/models` answer seen for
each preset (`%translate models`, `%translate test`, the panel's Test connection).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["COMMAND_NAMES", "complete", "register", "remember_models"]

COMMAND_NAMES = (
    "help",
    "use",
    "presets",
    "show",
    "new",
    "set",
    "key",
    "delete",
    "models",
    "test",
    "settings",
    "history",
    "local",
    "notebook",
)
# Commands whose first argument is a preset name.
_NAMED = frozenset({"use", "show", "set", "key", "delete", "models", "test", "settings"})
_CELL_FLAGS = (
    *("-t", "--to", "-f", "--from", "-p", "--preset", "-m", "--model", "--base-url"),
    *("--api-key-env", "--temperature", "--max-tokens", "--system", "--glossary", "--timeout"),
    "--deadline",
    "--no-stream",
    *("-o", "--out", "--format", "--runs", "--translate-code", "--concurrency"),
    *("--eval", "--judge", "--refresh"),
)
# Target languages people ask for most; any other name works too.
LANGUAGES = (
    *("Arabic", "Bengali", "Bulgarian", "Catalan", "Chinese", "Croatian", "Czech", "Danish"),
    *("Dutch", "English", "Estonian", "Finnish", "French", "German", "Greek", "Hebrew"),
    *("Hindi", "Hungarian", "Indonesian", "Italian", "Japanese", "Korean", "Latvian"),
    *("Lithuanian", "Malay", "Norwegian", "Persian", "Polish", "Portuguese", "Romanian"),
    *("Russian", "Serbian", "Slovak", "Slovenian", "Spanish", "Swahili", "Swedish", "Tagalog"),
    *("Thai", "Turkish", "Ukrainian", "Urdu", "Vietnamese"),
)

_models: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


def remember_models(preset_name: str, model_ids: Iterable[str]) -> None:
    """Keep a preset's model ids from its last `/models` answer, for `-m` completion."""
    with _lock:
        _models[preset_name.casefold()] = tuple(model_ids)


def remembered_models(preset_name: str) -> tuple[str, ...]:
    with _lock:
        return _models.get(preset_name.casefold(), ())


def _words(text: str) -> tuple[list[str], str, str]:
    """(finished words, the word being typed, its opening quote or '') of a magic line.

    Lenient where shlex is strict: an unclosed quote is the word being typed.
    """
    words: list[str] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)("?)|\'([^\']*)(\'?)|((?:[^\s"\'\\]|\\.)+)', text):
        if match.group(1) is not None and not match.group(2) and match.end() == len(text):
            return words, match.group(1), '"'
        if match.group(3) is not None and not match.group(4) and match.end() == len(text):
            return words, match.group(3), "'"
        word = match.group(1) if match.group(1) is not None else match.group(3)
        if word is None:
            word = re.sub(r"\\(.)", r"\1", match.group(5))
        if match.end() == len(text) and not text[-1:].isspace() and match.group(5) is not None:
            return words, word, ""
        words.append(word)
    return words, "", ""


def _quote(value: str, quote: str) -> str:
    """The value as the rest of the word being typed: closed when it opened a quote."""
    if quote:
        return value + quote
    return value.replace(" ", "\\ ")  # shlex reads "LM\ Studio" as one word


def _preset_names() -> list[str]:
    from ..config.store import get_store

    try:
        return get_store().names()
    except Exception:  # an unreadable presets file: nothing to offer, and no traceback
        return []


def _model_ids(words: list[str]) -> list[str]:
    names = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-p", "--preset")]
    if not names:
        from ..config.store import get_store

        try:
            active = get_store().active_name
        except Exception:
            active = None
        names = [active] if active else []
    ids: list[str] = []
    for name in names:
        ids += [i for i in remembered_models(name) if i not in ids]
    return ids


def complete(line: str) -> list[str]:
    """What may come next on `line` (the text up to the cursor), as the rest of the current
    word: names with spaces come back escaped (`LM\\ Studio`) or closed (`LM Studio"`)."""
    words, current, quote = _words(line)
    if not words:
        return []
    magic, args = words[0], words[1:]
    previous = args[-1] if args else ""
    if magic == "%translate" and not args:
        options = list(COMMAND_NAMES)
    elif previous in ("-p", "--preset") or (
        magic == "%translate" and len(args) == 1 and args[0] in _NAMED
    ):
        options = _preset_names()
    elif previous in ("-m", "--model"):
        options = _model_ids(words)
    elif previous in ("-t", "--to", "-f", "--from"):
        options = list(LANGUAGES)
    elif current.startswith("-") and magic == "%%translate":
        options = list(_CELL_FLAGS)
    elif magic == "%translate" and args and args[0] == "local" and len(args) == 1:
        options = ["start", "status", "stop"]
    else:
        return []
    folded = current.casefold()
    return [_quote(o, quote) for o in options if o.casefold().startswith(folded)]


def _hook(shell: Any, event: Any) -> list[str]:
    from IPython.core.error import TryNext

    # The hook outlives `%unload_ext` (IPython cannot take one back): once the magics are gone,
    # offering `show` after `%translate` would complete a command that no longer exists.
    if shell.find_line_magic("translate") is None:
        raise TryNext
    try:
        found = complete(event.text_until_cursor)
    except Exception:  # completion must never print a traceback into the prompt
        found = []
    if not found:
        raise TryNext  # let IPython's own matchers try (file names after --model PATH…)
    symbol = event.symbol
    # IPython replaces only the text after its last delimiter (a space, a quote): what we
    # return must start with it, so trim the part of the word before that point.
    current = _words(event.text_until_cursor)[1]
    cut = len(current) - len(symbol) if current.endswith(symbol) else 0
    return [option[cut:] if cut > 0 else option for option in found]


def register(shell: Any) -> None:
    """Install the completer for both magics (once per shell, however often it is loaded)."""
    if getattr(shell, "_compat_nb_completer", False):
        return
    for key in ("%translate", "%%translate"):
        shell.set_hook("complete_command", _hook, str_key=key)
    shell._compat_nb_completer = True
