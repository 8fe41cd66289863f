"""Streaming text into a cell: a throttled display handle in a kernel, stdout in a terminal.

However fast tokens arrive, the front end sees at most `rate` updates a second, and the last
update always carries the complete text.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from ..work.markup import tone

__all__ = ["StreamDisplay", "in_kernel", "markdown_escape", "result_bundle"]


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, VS Code), False in terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def markdown_escape(text: str) -> str:
    """Escape characters Markdown would read as emphasis or markup (model ids have `_`, `*`)."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


class StreamDisplay:
    """One live output area for a streaming answer.

    `format` is "markdown" (rendered) or "text" (verbatim). Outside a kernel, deltas are
    written to stdout as they arrive, which is what a terminal shows best.
    """

    def __init__(
        self, *, format: str = "markdown", rate: float = 20.0, kernel: bool | None = None
    ) -> None:
        self.format = format
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.kernel = in_kernel() if kernel is None else kernel
        self.updates = 0  # front-end updates sent, for tests of the throttle
        self._text = ""
        self._last = 0.0
        self._dirty = False
        self._handle: Any = None
        self._printed = 0

    @property
    def text(self) -> str:
        return self._text

    def start(self, placeholder: str = "…") -> None:
        if self.kernel:
            from IPython.display import display

            self._handle = display(self._bundle(placeholder), raw=True, display_id=True)

    def append(self, delta: str) -> None:
        self._text += delta
        if not self.kernel:
            sys.stdout.write(delta)
            sys.stdout.flush()
            self._printed = len(self._text)
            return
        self._dirty = True
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._push(self._text)
            self._last = now

    def finish(self, text: str | None = None, footer: str | None = None) -> None:
        """Show the final text (cleaned, if given) and the footer line; always sent."""
        final = self._text if text is None else text
        if not self.kernel:
            shown = self._text[: self._printed]
            if final.strip() != shown.strip():
                # The clean-up changed what was printed (e.g. a fence removed): reprint it.
                if self._printed:
                    sys.stdout.write("\n")
                sys.stdout.write(final)
            sys.stdout.write("\n")
            if footer:
                sys.stdout.write(f"— {footer}\n")
            sys.stdout.flush()
            return
        self._text = final
        self._push(final, footer)

    def _push(self, text: str, footer: str | None = None) -> None:
        self.updates += 1
        self._dirty = False
        bundle = self._bundle(text, footer)
        if self._handle is None:
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def _bundle(self, text: str, footer: str | None = None) -> dict[str, str]:
        return result_bundle(text, footer, markdown=self.format == "markdown")


def result_bundle(text: str, footer: str | None = None, *, markdown: bool) -> dict[str, str]:
    """A translation and its footer line as a display bundle: Markdown, or plain text only."""
    plain = text + (f"\n\n— {footer}" if footer else "")
    if not markdown:
        return {"text/plain": plain}
    md = text + (f"\n\n{tone(markdown_escape(footer), 'muted', tag='sub')}" if footer else "")
    return {"text/markdown": md, "text/plain": plain}
