"""Streaming text into a cell: throttled display outputs in a kernel, stdout in a terminal.

However fast tokens arrive, the front end gets at most `rate` messages a second, and what it
receives grows linearly with the answer (finished blocks are sent once); at the end the cell
shows the complete text and its footer.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import Any

from ..wire.textbuffer import TextBuffer, leading_blank
from ..work.markup import tone

__all__ = ["StreamDisplay", "in_kernel", "markdown_escape", "result_bundle", "scan"]


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


# Where a streamed answer may be cut into outputs that render as the whole does (the rules of
# work/pieces.py, for text that is still arriving): after a blank line, outside code fences,
# `$$` and `\begin{...}` blocks, before a line indented less than a list item's continuation.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MATH = re.compile(r"^\s*\$\$")
_ENV = re.compile(r"^\s*\\begin\{([^}]+)\}")
# Constructs that reach across blocks (link and footnote definitions, HTML blocks): an answer
# holding one is shown again whole at the end, so it renders as one document.
_SPANNING = re.compile(r"^ {0,3}(\[[^\]\n]+\]:|<[A-Za-z!?/])", re.M)
TAIL_CHARS = 2000  # the live output's text is cut at a line end past this, safe cut or not


def scan(text: str) -> tuple[int, str, str]:
    """(cut, opener, closer): the index of the last line at which `text` can be split into two
    Markdown documents that render as it does (0: none), and the opening line and closing mark
    of the block still open at its end ("", "" when none). `text` starts outside any block."""
    cut = pos = 0
    opener = closer = ""
    closing: re.Pattern[str] | None = None
    blank = False
    for line in text.split("\n"):
        if closing is not None:
            if closing.search(line):
                closing, opener, closer = None, "", ""
        elif not line.strip():
            blank = True
        else:
            if blank and pos and not line.startswith(("  ", "\t", " \t")):
                cut = pos
            blank = False
            if fence := _FENCE.match(line):
                closer = fence.group(1)
                closing = re.compile(rf"^ {{0,3}}{re.escape(closer[0])}{{{len(closer)},}}\s*$")
            elif _MATH.match(line) and "$$" not in line.strip()[2:]:
                closer, closing = "$$", re.compile(r"\$\$")
            elif (env := _ENV.match(line)) and f"\\end{{{env.group(1)}}}" not in line:
                closer = f"\\end{{{env.group(1)}}}"
                closing = re.compile(re.escape(closer))
            if closing is not None:
                opener = line
        pos += len(line) + 1
    return cut, opener, closer


def forced_cut(text: str) -> int:
    """Where to cut a tail that has no safe cut: the last line end, else space, else anywhere."""
    for mark in ("\n", " "):
        at = text.rfind(mark, 0, len(text) - 1)
        if at > 0:
            return at + 1
    return len(text) - 1


class StreamDisplay:
    """One streaming answer in the cell: in a kernel, a run of display outputs; in a terminal,
    the deltas on stdout.

    A display update re-sends its whole output, so one output re-sent with the whole text on
    every update costs the front end time and bytes quadratic in the answer. Instead the text
    goes into the cell block by block: a finished block is sent once and never again, and only
    the live tail (at most ~`TAIL_CHARS`) is re-sent, at most `rate` messages a second. At the
    end only the last block gets its final text and the footer; blocks that had to be cut at a
    line end (a long paragraph or code block) are joined again into their first output; and
    the answer is shown again whole, once, when the final text differs from what streamed (a
    fence around the whole removed) or holds constructs that reach across blocks.
    `format` is "markdown" (rendered) or "text" (verbatim). `text`: the stream's own buffer
    (`Client.stream(buffer=...)`), which holds every delta before `append` sees it: the view
    reads the text there rather than keeping a second copy of a long answer.
    """

    def __init__(
        self,
        *,
        format: str = "markdown",
        rate: float = 20.0,
        kernel: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        text: TextBuffer | None = None,
    ) -> None:
        self.format = format
        self.clock = clock
        # 5% under the rate: the first and the last message count too, so over any stream
        # longer than two seconds the front end gets at most `rate` a second in all.
        self.interval = 1.05 / rate if rate > 0 else 0.0
        self.kernel = in_kernel() if kernel is None else kernel
        self.updates = 0  # messages sent to the front end (new outputs and updates)
        self._shared = text is not None  # the stream appends to it: `append` only counts
        self._text = TextBuffer() if text is None else text
        self._seen = 0  # characters passed to `append`
        self._tail = ""  # what the live output shows: the text after the last finished block
        # Finished blocks in order: (handle, offset of the block in the text, cut at a line end
        # from the next one, so the two show as one at the end).
        self._blocks: list[tuple[Any, int, bool]] = []
        self._committed = 0  # the live output's offset in the text
        self._handle: Any = None  # the live output
        self._arrived: list[str] = []  # deltas not yet in the tail (joined once per push)
        self._next = 0.0  # time.monotonic() from which the next message may go
        self._cutting = False
        self._lead = self._trail = 0  # whitespace at the start and the end of the text
        self._reopen = ""  # the fence line the live output reopens after such a cut

    @property
    def text(self) -> str:
        return str(self._text)

    def start(self, placeholder: str = "…") -> None:
        if self.kernel:
            self._show(self._bundle(placeholder))

    def append(self, delta: str) -> None:
        if self._lead == self._seen:  # the text so far is blank (or there is none)
            self._lead += len(delta) - len(delta.lstrip())
        self._seen += len(delta)
        kept = delta.rstrip()
        self._trail = self._trail + len(delta) if not kept else len(delta) - len(kept)
        if not self._shared:
            self._text.append(delta)
        if not self.kernel:
            sys.stdout.write(delta)
            sys.stdout.flush()
            return
        self._arrived.append(delta)
        if self.clock() >= self._next:
            self._push()

    def _push(self) -> None:
        self._tail += "".join(self._arrived)
        self._arrived.clear()
        # A block cut at a line end inside a code fence goes on in the next output: that one
        # is rendered with the fence reopened (`_reopen`), the finished one with it closed.
        cut = max(0, scan(self._reopen + self._tail)[0] - len(self._reopen))
        closer = reopen = ""
        self._cutting = False
        if not cut and len(self._tail) > TAIL_CHARS:
            cut, self._cutting = forced_cut(self._tail), True
            _, opener, closer = scan(self._reopen + self._tail[:cut])
            reopen = opener + "\n" if opener else ""
        if not cut:
            self._update(self._bundle(self._reopen + self._tail, plain=False))
            return
        block = self._reopen + self._tail[:cut]
        if closer:
            block += ("" if block.endswith("\n") else "\n") + closer
        self._update(self._bundle(block, plain=False))
        self._blocks.append((self._handle, self._committed, self._cutting))
        self._committed += cut
        self._handle, self._tail, self._reopen = None, self._tail[cut:], reopen
        if self._tail:
            self._show(self._bundle(self._reopen + self._tail, plain=False))

    def finish(self, text: str | None = None, footer: str | None = None) -> None:
        """Show the final text (cleaned, if given) and the footer line; always sent."""
        final = self.text if text is None else text
        if not self.kernel:
            if final.strip() != self.text.strip():
                # The clean-up changed what was printed (e.g. a fence removed): reprint it.
                if self._seen:
                    sys.stdout.write("\n")
                sys.stdout.write(final)
            sys.stdout.write("\n")
            if footer:
                sys.stdout.write(f"— {footer}\n")
            sys.stdout.flush()
            return
        self._tail += "".join(self._arrived)
        self._arrived.clear()
        outputs = [*self._blocks, (self._handle, self._committed, False)]
        # Outputs that must show as one: the blocks a line-end cut split, or every output
        # when the final text is not what streamed (but for whitespace at its ends) or holds
        # constructs that reach across blocks.
        lead = self._lead - leading_blank(final)  # whitespace the clean-up took
        same = self._text.matches(final, lead) and (
            self._text.length - lead - len(final) <= self._trail
        )
        whole = not same or bool(_SPANNING.search(final))
        groups = [[0]]
        for i in range(1, len(outputs)):
            if whole or outputs[i - 1][2]:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in groups:
            last = group[-1] == len(outputs) - 1
            if len(group) == 1 and not last:
                continue  # a finished block that stands alone is right as it is
            start = 0 if whole else max(0, outputs[group[0]][1] - lead)
            end = len(final) if last else outputs[group[-1] + 1][1] - lead
            handles = [outputs[i][0] for i in group]
            for handle in handles[1:]:
                if handle is not None:
                    self._send(handle, {"text/plain": ""})
            bundle = self._bundle(final[start:end], footer if last else None, plain=last)
            if handles[0] is None:
                self._show(bundle)  # the text ended with a finished block: the footer alone
            else:
                self._send(handles[0], bundle)
        self._text, self._shared = TextBuffer(final), False
        self._tail = self._reopen = ""

    def _show(self, bundle: dict[str, str]) -> None:
        from IPython.display import display

        self._handle = display(bundle, raw=True, display_id=True)
        self._sent()

    def _update(self, bundle: dict[str, str]) -> None:
        if self._handle is None:
            self._show(bundle)
        else:
            self._send(self._handle, bundle)

    def _send(self, handle: Any, bundle: dict[str, str]) -> None:
        handle.update(bundle, raw=True)
        self._sent()

    def _sent(self) -> None:
        # Every message spends the rate: a block finished and a new one opened cost two.
        self.updates += 1
        self._next = max(self._next, self.clock()) + self.interval

    def _bundle(
        self, text: str, footer: str | None = None, *, plain: bool = True
    ) -> dict[str, str]:
        """A display bundle; while streaming (`plain=False`) Markdown alone, which is what
        every notebook front end renders: the plain text goes with the final output."""
        bundle = result_bundle(text, footer, markdown=self.format == "markdown")
        if not plain and len(bundle) > 1:
            del bundle["text/plain"]
        return bundle


def result_bundle(text: str, footer: str | None = None, *, markdown: bool) -> dict[str, str]:
    """A translation and its footer line as a display bundle: Markdown, or plain text only."""
    plain = text + (f"\n\n— {footer}" if footer else "")
    if not markdown:
        return {"text/plain": plain}
    md = text + (f"\n\n{tone(markdown_escape(footer), 'muted', tag='sub')}" if footer else "")
    return {"text/markdown": md, "text/plain": plain}
