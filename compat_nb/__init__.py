"""compat_nb: translate and compare models from a notebook through OpenAI-compatible servers.

`%load_ext compat_nb` registers `%%translate`; everything else is imported on first use, so
loading the extension opens no connection and imports neither httpx nor ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_EXPORTS = {
    "Client": "client",
    "get_client": "client",
    "ChatResult": "protocol",
    "ConnectionReport": "protocol",
    "RetryPolicy": "protocol",
    "Usage": "protocol",
    "Preset": "presets",
    "BUILTIN_PRESETS": "presets",
    "normalize_base_url": "presets",
    "PresetStore": "store",
    "get_store": "store",
    "Translation": "translation",
    "translate": "translation",
    "atranslate": "translation",
    "compare": "comparison",
    "acompare": "comparison",
    "Comparison": "comparison",
    "translate_many": "chunking",
    "history": "runlog",
    "settings_panel": "panel",
    "SettingsPanel": "panel",
    "CompatError": "errors",
    "ConfigError": "errors",
}

__all__ = [
    "BUILTIN_PRESETS",
    "ChatResult",
    "Client",
    "Comparison",
    "CompatError",
    "ConfigError",
    "ConnectionReport",
    "Preset",
    "PresetStore",
    "RetryPolicy",
    "SettingsPanel",
    "Translation",
    "Usage",
    "__version__",
    "acompare",
    "atranslate",
    "compare",
    "get_client",
    "get_store",
    "history",
    "load_ipython_extension",
    "normalize_base_url",
    "settings_panel",
    "translate",
    "translate_many",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .chunking import translate_many
    from .client import Client, get_client
    from .comparison import Comparison, acompare, compare
    from .errors import CompatError, ConfigError
    from .panel import SettingsPanel, settings_panel
    from .presets import BUILTIN_PRESETS, Preset, normalize_base_url
    from .protocol import ChatResult, ConnectionReport, RetryPolicy, Usage
    from .runlog import history
    from .store import PresetStore, get_store
    from .translation import Translation, atranslate, translate


# Submodules a user reaches as attributes (`compat_nb.runlog.enabled = False`).
_SUBMODULES = frozenset({"client", "errors", "local", "presets", "runlog", "store"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'compat_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext compat_nb`: register the magics, nothing else."""
    from .magics import TranslateMagics

    ipython.register_magics(TranslateMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext compat_nb`: stop the bundled local server if this kernel started it."""
    import sys

    local = sys.modules.get(f"{__name__}.local")
    if local is not None:
        local.stop_owned()
