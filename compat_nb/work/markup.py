"""HTML for results and messages: colours that follow the notebook's theme, code spans, Markdown.

Every status colour is the front end's own (JupyterLab's `--jp-*` CSS variables, VS Code's
`--vscode-*` ones, else a fixed colour for classic front ends) mixed toward the theme's text
colour: the hue says ok/warning/error, and the mix keeps it legible on the theme's background.
JupyterLab's own status colours alone measure 2.7:1 (warn) and 4.1:1 (success) on Light and
4.4:1 (error) on Dark's grey; mixed 60/40 with the text colour, each is at least 5.4:1 in both,
above WCAG 2.x AA's 4.5:1 for text (SC 1.4.3). The browser tests measure it in JupyterLab,
and for the fallbacks in VS Code's four default themes and on plain light and dark pages.
"""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

__all__ = ["TONES", "markdown_html", "message_html", "tone", "tone_color"]

# (JupyterLab variable, VS Code variable, fixed colour for front ends with neither).
_HUES = {
    "ok": ("--jp-success-color1", "--vscode-testing-iconPassed", "#1a7f37"),
    "warn": ("--jp-warn-color1", "--vscode-editorWarning-foreground", "#9a6700"),
    "error": ("--jp-error-color1", "--vscode-errorForeground", "#cf222e"),
}
# The theme's main and secondary text colours, in the panel (UI) and in outputs (content).
_TEXT = {
    "ui": ("--jp-ui-font-color1", "--vscode-editor-foreground"),
    "content": ("--jp-content-font-color1", "--vscode-editor-foreground"),
}
_MUTED = {
    "ui": ("--jp-ui-font-color2", "--vscode-descriptionForeground"),
    "content": ("--jp-content-font-color2", "--vscode-descriptionForeground"),
}
HUE_SHARE = 60  # percent of the status hue; the rest is the theme's text colour
TONES = (*_HUES, "muted")


def _var(name: str, fallback: str) -> str:
    return f"var({name}, {fallback})"


def tone_color(kind: str, surface: str = "content") -> str:
    """A CSS colour value for text of `kind` ("ok", "warn", "error", "muted") on `surface`
    ("ui" for the settings panel, "content" for cell outputs). Raises KeyError for others."""
    jp_text, vs_text = _TEXT[surface]
    text = _var(jp_text, _var(vs_text, "currentColor"))
    if kind == "muted":
        # The theme's secondary text colour, a quarter of the way back to its main one:
        # JupyterLab Light's alone reads 4.6:1 on white, too close to AA to survive a tinted
        # (selected) cell; mixed, 6:1.
        jp, vs = _MUTED[surface]
        secondary = _var(jp, _var(vs, "color-mix(in srgb, currentColor 70%, transparent)"))
        return f"color-mix(in srgb, {secondary} 75%, {text})"
    jp, vs, fixed = _HUES[kind]
    return f"color-mix(in srgb, {_var(jp, _var(vs, fixed))} {HUE_SHARE}%, {text})"


def tone(
    content_html: str, kind: str, *, surface: str = "content", tag: str = "span", style: str = ""
) -> str:
    """`content_html` (already escaped) in the colour of `kind`, in a `tag` element with any
    further inline `style`; the class names the kind for user CSS and for the contrast tests."""
    css = f"color:{tone_color(kind, surface)}" + (f";{style}" if style else "")
    return f"<{tag} class='compat-nb-tone compat-nb-{kind}' style='{css}'>{content_html}</{tag}>"


_CODE = re.compile(r"`([^`\n]+)`")


def message_html(text: str) -> str:
    """A plain-text message as HTML: escaped, `backticked` spans as code, line breaks kept.

    >>> message_html("Run `%translate key Demo` <now>.\\nThen retry.")
    'Run <code>%translate key Demo</code> &lt;now&gt;.<br>Then retry.'
    """
    escaped = html.escape(text, quote=False)
    return _CODE.sub(r"<code>\1</code>", escaped).replace("\n", "<br>")


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt  # only when a comparison is shown

    # CommonMark plus the GitHub tables and strikethrough models often write. Raw HTML in an
    # answer is shown as text: a model's stray "</div>" must not break the columns around it.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def markdown_html(text: str) -> str:
    """Markdown (CommonMark, GFM tables and strikethrough) as HTML, via markdown-it-py; raw HTML
    in the text is escaped, and unsafe link schemes (javascript:) are refused.

    >>> markdown_html("**Bonjour** le *monde* <b>").strip()
    '<p><strong>Bonjour</strong> le <em>monde</em> &lt;b&gt;</p>'
    """
    return str(_markdown().render(text))
