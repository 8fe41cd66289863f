"""What a page looks like, measured: text contrast (WCAG 2.x) and clipped elements.

Colours are read with getComputedStyle and normalised by a canvas, so any CSS colour syntax the
browser computes (rgb(), color(srgb …) from color-mix(), alpha) is measured the same way. A
translucent colour is composited over the backgrounds behind it, as the screen shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AA = 4.5  # WCAG 2.x success criterion 1.4.3 (Contrast, Minimum) for normal-size text

_MEASURE = """
(selector) => {
  const ctx = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, bottom) => {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const c = [0, 1, 2].map(i => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a);
    return [...c, a];
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const layer = rgba(getComputedStyle(node).backgroundColor);
      if (layer[3] > 0) layers.push(layer);
      if (layer[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];  // the canvas under everything
    for (const layer of layers.reverse()) bg = over(layer, bg);
    return bg;
  };
  return [...document.querySelectorAll(selector)]
    .filter(el => el.offsetParent !== null && el.textContent.trim())
    .map(el => {
      const style = getComputedStyle(el);
      const bg = background(el);
      let fg = rgba(style.color);
      const opacity = parseFloat(style.opacity);
      if (opacity < 1) fg = [...fg.slice(0, 3), fg[3] * opacity];
      return {
        classes: el.className, text: el.textContent.trim().slice(0, 60),
        css: style.color, fg: over(fg, bg), bg,
      };
    });
}
"""

_CLIPPED = """
(selector) => {
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    const box = root.getBoundingClientRect();
    const parts = root.querySelectorAll(
      'label, button, .widget-label, .widget-html-content, select, .compat-nb-summary');
    for (const el of [root, ...parts]) {
      if (el.offsetParent === null) continue;  // hidden (display: none)
      const r = el.getBoundingClientRect();
      const cut = el.scrollWidth > el.clientWidth + 1;
      const outside = r.right > box.right + 1 || r.left < box.left - 1;
      const output = root.closest('.jp-OutputArea-output') || root;
      const past = r.right > output.getBoundingClientRect().right + 1;
      if (cut || (el !== root && outside) || past) {
        out.push({tag: el.tagName, classes: String(el.className),
                  text: el.textContent.trim().slice(0, 40),
                  scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
                  right: Math.round(r.right), limit: Math.round(box.right)});
      }
    }
  }
  return out;
}
"""


def _linear(channel: float) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: Any) -> float:
    """WCAG 2.x relative luminance of an sRGB colour given as 0–255 channels."""
    r, g, b = (_linear(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: Any, bg: Any) -> float:
    """WCAG 2.x contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@dataclass(frozen=True)
class Measured:
    classes: str
    text: str
    css: str
    ratio: float

    def __str__(self) -> str:
        return f"{self.ratio:5.2f}:1  {self.css:<40} {self.text!r} ({self.classes})"


def measure(page: Any, selector: str) -> list[Measured]:
    """Every visible element matching `selector` that holds text, with its contrast ratio."""
    found = page.evaluate(_MEASURE, selector)
    return [
        Measured(f["classes"], f["text"], f["css"], round(contrast(f["fg"], f["bg"]), 2))
        for f in found
    ]


def clipped(page: Any, selector: str) -> list[dict[str, Any]]:
    """Labels, buttons and fields under `selector` that are cut off or stick out of it."""
    return list(page.evaluate(_CLIPPED, selector))
