"""A notebook opened in JupyterLab or Notebook 7 on a shared server, with its own kernel.

Each test gets a notebook, a kernel whose environment it chooses (its own presets directory),
the theme and window width it asks for, and the page errors the front end raised.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat

from .lab import KNOWN_PAGE_ERRORS, JupyterLab, run_cell

LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"
# `reset`: a fresh workspace, not the last test's notebooks restored beside this one.
URLS = {"lab": "lab/tree/{}", "notebook": "notebooks/{}"}


class NotebookPage:
    """`cells` as a notebook under the server's root, open in a new page of `context`."""

    def __init__(
        self,
        lab: JupyterLab,
        context: Any,
        name: str,
        cells: list[str],
        *,
        env: dict[str, str],
        front_end: str = "lab",
        theme: str = LIGHT,
        width: int = 1280,
        height: int = 1000,
    ) -> None:
        self.lab, self.name = lab, re.sub(r"[^\w-]", "_", name)
        self.path = f"{self.name}.ipynb"
        kernel = lab.add_kernel(f"compat-{self.name}".lower(), env)
        spec = {"name": kernel, "display_name": kernel, "language": "python"}
        cells_ = [nbformat.v4.new_code_cell(c) for c in cells]
        nb = nbformat.v4.new_notebook(cells=cells_, metadata={"kernelspec": spec})
        nbformat.write(nb, lab.root / self.path)
        lab.set_theme(theme)
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.set_default_timeout(20_000)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        url = lab.url(URLS[front_end].format(self.path))
        self.page.goto(url + ("&reset" if front_end == "lab" else ""))
        self.page.locator(".jp-Notebook .jp-Cell").nth(len(cells) - 1).wait_for()
        lab.wait_for_idle_kernel(self.path)

    @property
    def file(self) -> Path:
        return self.lab.root / self.path

    def run(self, index: int) -> Any:
        """Run cell `index` as a user does; the cell's locator."""
        return run_cell(self.page, index)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(k in e for k in KNOWN_PAGE_ERRORS)]

    def close(self) -> None:
        self.page.close()
        self.lab.stop_kernel(self.path)
