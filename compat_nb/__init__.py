"""compat_nb: translate and compare models from a notebook through OpenAI-compatible servers.

`%load_ext compat_nb` registers `%%translate`; everything else is imported on first use, so
loading the extension opens no connection and imports neither httpx nor ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> module that defines it; resolved lazily by __getattr__ (PEP 562).
_EXPORTS = {
    "Client": "wire.client",
    "get_client": "wire.client",
    "ChatResult": "wire.protocol",
    "ConnectionReport": "wire.protocol",
    "RetryPolicy": "wire.protocol",
    "Usage": "wire.protocol",
    "Preset": "config.presets",
    "BUILTIN_PRESETS": "config.catalog",
    "normalize_base_url": "config.urls",
    "PresetStore": "config.store",
    "get_store": "config.store",
    "Translation": "work.translation",
    "translate": "work.translation",
    "atranslate": "work.translation",
    "Comparison": "work.comparison",
    "history": "work.history",
    "compare": "faces.api",
    "acompare": "faces.api",
    "translate_many": "faces.api",
    "evaluate": "faces.evaluation",
    "aevaluate": "faces.evaluation",
    "Evaluation": "work.evaluation",
    "settings_panel": "faces.panel",
    "SettingsPanel": "faces.panel",
    "translate_notebook": "faces.notebook",
    "NotebookTranslation": "work.notebooks",
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
    "Evaluation",
    "NotebookTranslation",
    "Preset",
    "PresetStore",
    "RetryPolicy",
    "SettingsPanel",
    "Translation",
    "Usage",
    "__version__",
    "acompare",
    "aevaluate",
    "atranslate",
    "compare",
    "evaluate",
    "get_client",
    "get_store",
    "history",
    "load_ipython_extension",
    "normalize_base_url",
    "settings_panel",
    "translate",
    "translate_many",
    "translate_notebook",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .config.catalog import BUILTIN_PRESETS
    from .config.presets import Preset
    from .config.store import PresetStore, get_store
    from .config.urls import normalize_base_url
    from .errors import CompatError, ConfigError
    from .faces.api import acompare, compare, translate_many
    from .faces.evaluation import aevaluate, evaluate
    from .faces.notebook import translate_notebook
    from .faces.panel import SettingsPanel, settings_panel
    from .wire.client import Client, get_client
    from .wire.protocol import ChatResult, ConnectionReport, RetryPolicy, Usage
    from .work.comparison import Comparison
    from .work.evaluation import Evaluation
    from .work.history import history
    from .work.notebooks import NotebookTranslation
    from .work.translation import Translation, atranslate, translate


# Modules a user reaches as attributes (`compat_nb.runlog.enabled = False`), by their
# documented names.
_SUBMODULES = {
    "config": "config",
    "errors": "errors",
    "faces": "faces",
    "local": "local",
    "runlog": "work.history",
    "wire": "wire",
    "work": "work",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
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
    from .faces.completion import register
    from .faces.magics import TranslateMagics

    ipython.register_magics(TranslateMagics)
    register(ipython)  # tab completion: presets, remembered model ids, languages


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext compat_nb`: stop the bundled local server if this kernel started it, and
    take the magics away (`%reload_ext` brings them back)."""
    import sys

    local = sys.modules.get(f"{__name__}.local")
    if local is not None:
        local.stop_owned()
    manager = getattr(ipython, "magics_manager", None)
    if manager is not None:
        for kind in ("line", "cell"):
            manager.magics.get(kind, {}).pop("translate", None)
        manager.registry.pop("TranslateMagics", None)
