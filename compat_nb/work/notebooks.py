"""Whole notebooks and Markdown files translated: every piece through one bounded queue, each
finished piece in the persisted cache, the result checked and written without overwriting.

`translate_notebooks(paths, to=...)` -> list[NotebookTranslation]; `translate_notebook(path)`
for one. Progress goes to callbacks (`faces/` draws them); nothing here displays anything.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import advice, bounds
from ..config.presets import Preset
from ..errors import CompatError, ConfigError
from ..wire.protocol import Usage, cost_of
from . import history
from .anchors import Heading, headings
from .documents import Document, Part, verify
from .glossary import Glossary, Term, preset_glossary, read_glossary
from .languages import Language, resolve_language
from .notebook_files import already_exists, expand_paths, output_path, write_new
from .notebook_report import Failure, NotebookTranslation, history_row
from .protected import restore

__all__ = ["NotebookTranslation", "translate_notebooks"]

NOTEBOOK_PROMPT = "nb-1"  # this module's additions to the prompt; part of every cache key
_KINDS = {
    "markdown": "The text is Markdown from a notebook or documentation page.",
    "comment": "The text is a comment from Python source code: translate it as plain prose, "
    "keeping identifiers and anything in backticks as they are.",
    "docstring": "The text is a Python docstring: keep its layout, parameter names, "
    "identifiers and any reStructuredText or doctest lines as they are.",
}
_INTERRUPTED = "interrupted: nothing was written; the pieces done are cached"
_HINTS = 20  # at most this many already-chosen heading translations go with one piece


@dataclass
class _Job:
    """One part of one unit of one document, with the terms that go with it."""

    doc: int
    unit: int
    index: int
    part: Part
    terms: list[Term]
    key: str = ""


@dataclass
class _Done:
    text: str | None = None
    problem: str | None = None
    cached: bool = False
    usage: Usage | None = None


class _Run:
    """Every document's parts through one pool: cache first, then at most `concurrency`
    requests at once, each answer checked and cached as soon as it arrives."""

    def __init__(
        self,
        docs: list[Document],
        preset: Preset,
        language: Language,
        source: Language | None,
        glossary: Glossary | None,
        on_piece: Callable[[int, int, bool], None],
    ) -> None:
        from .cache import preset_key
        from .translation import PROMPT_VERSION

        self.docs, self.preset, self.language, self.source = docs, preset, language, source
        self.on_piece = on_piece
        self.jobs: list[_Job] = []
        for d, doc in enumerate(docs):
            for u, unit in enumerate(doc.units):
                for i, part in enumerate(unit.parts):
                    terms = glossary.select(part.text) if glossary else []
                    self.jobs.append(_Job(d, u, i, part, terms))
        for job in self.jobs:
            job.key = preset_key(
                preset,
                options={
                    "kind": job.part.kind,
                    "terms": [[t.source, t.target] for t in job.terms],
                },
                prompt_version=f"{PROMPT_VERSION}+{NOTEBOOK_PROMPT}",
                target=language.tag,
                source=source.tag if source else None,
                text=job.part.text,
            )
        self.done: dict[str, _Done] = {}
        self.chosen: list[dict[str, str]] = [{} for _ in docs]  # heading -> its translation
        self.started = time.perf_counter()
        self.group = uuid.uuid4().hex[:12] if len(docs) > 1 else None  # ties a command's rows

    def _messages(self, job: _Job) -> list[dict[str, str]]:
        from .translation import build_messages

        extra = [self.preset.system_prompt or "", _KINDS[job.part.kind]]
        extra.append(Glossary.instructions(job.terms))
        hints = [(s, t) for s, t in self.chosen[job.doc].items() if s in job.part.text]
        if hints:
            lines = [f"- {s} → {t}" for s, t in hints[:_HINTS]]
            extra.append("Headings already translated in this document (use the same words):")
            extra.append("\n".join(lines))
        return build_messages(
            job.part.text,
            to=self.language.prompt_name,
            source=self.source.prompt_name if self.source else None,
            system="\n\n".join(e for e in extra if e),
        )

    def _check(self, job: _Job, text: str) -> tuple[str, str | None]:
        if job.part.kind != "markdown":
            return text, None
        text, problem = restore(job.part.text, text)
        if problem is None:
            before, after = headings(job.part.text), headings(text)
            if [h.level for h in before] != [h.level for h in after]:
                return text, _changed_headings(before, after)
            self.chosen[job.doc].update(
                (b.text, a.text) for b, a in zip(before, after, strict=True)
            )
        return text, problem

    async def run(self, concurrency: int) -> None:
        from ..wire.client import get_client
        from .cache import CachedAnswer, get_cache
        from .translation import clean_output

        self.started = time.perf_counter()
        cache, client = get_cache(), get_client()
        hits = cache.get_many(j.key for j in self.jobs)
        gate = asyncio.Semaphore(max(1, concurrency))
        flight: dict[str, asyncio.Task[None]] = {}

        async def fetch(job: _Job) -> None:
            hit = hits.get(job.key)
            if hit is not None:
                text, problem = self._check(job, hit.text)
                self.done[job.key] = _Done(text, problem, cached=True)
                return
            async with gate:
                try:
                    result = await client.achat(self.preset, self._messages(job))
                except CompatError as exc:
                    self.done[job.key] = _Done(problem=self.preset.redact(exc.message))
                    return
            text = clean_output(result.text, job.part.text)
            if result.finish_reason == "length":
                problem = "cut off at max tokens: raise max_tokens or lower chunk_chars"
                self.done[job.key] = _Done(problem=problem, usage=result.usage)
                return
            text, problem = self._check(job, text)
            if problem is None:  # an answer that broke the document is not kept for next time
                answer = CachedAnswer(
                    result.text,
                    result.usage,
                    result.finish_reason,
                    result.latency_ms,
                    result.ttft_ms,
                )
                cache.put(job.key, answer)
            self.done[job.key] = _Done(
                text if problem is None else None, problem, usage=result.usage
            )

        async def one(job: _Job) -> None:
            if job.key not in flight:  # the same text twice is asked once
                flight[job.key] = asyncio.ensure_future(fetch(job))
            await flight[job.key]
            self.on_piece(job.doc, job.unit, self.done[job.key].cached)

        await asyncio.gather(*(one(job) for job in self.jobs))

    def result(self, d: int) -> tuple[dict[int, str], NotebookTranslation]:
        """The assembled text of each of document d's units, and its report (no output yet);
        a part not done (the run was interrupted) is a failure."""
        doc = self.docs[d]
        report = NotebookTranslation(doc.path, None, self.language.tag)
        report.kept_cells = list(doc.skipped)
        texts: dict[int, str] = {}
        usages: list[Usage] = []
        for u, unit in enumerate(doc.units):
            jobs = [j for j in self.jobs if j.doc == d and j.unit == u]
            outcomes = [self.done.get(j.key, _Done(problem="interrupted")) for j in jobs]
            translations = [o.text for o in outcomes]
            notes = [o.problem for o in outcomes]
            assembled = unit.assemble(translations, notes)
            if unit.kind == "code" and assembled != unit.text:
                from .code_comments import same_code

                if not same_code(unit.text, assembled):
                    report.kept_cells.append(
                        f"{unit.where()}: translating its comments would change the code"
                    )
                    assembled = unit.text
            texts[u] = assembled
            report.cells += any(t is not None for t in translations)
            report.pieces += len(jobs)
            report.cached += sum(o.cached for o in outcomes)
            for i, (job, outcome) in enumerate(zip(jobs, outcomes, strict=True)):
                if outcome.usage is not None and not outcome.cached:
                    usages.append(outcome.usage)
                if outcome.text is None:
                    short = " ".join(job.part.text.split())[:60]
                    report.failed.append(Failure(unit.where(i), short, outcome.problem or "failed"))
                else:
                    for term in Glossary.misses(job.terms, outcome.text):
                        report.glossary_misses.append((unit.where(i), term.source))
        report.usage = _summed(usages)
        report.cost = cost_of(self.preset, report.usage)
        report.seconds = time.perf_counter() - self.started
        return texts, report

    def row(self, d: int, report: NotebookTranslation, error: str | None = None) -> dict[str, Any]:
        """Document d's row in the run history."""
        doc = self.docs[d]
        return history_row(
            report,
            self.preset,
            target=self.language,
            source=self.source,
            digest=doc.sha256,
            prose_chars=doc.prose_chars,
            group=self.group,
            error=error,
        )


def _changed_headings(before: list[Heading], after: list[Heading]) -> str:
    """Why a translation whose headings do not line up with the text's is not kept: the
    document's outline and the anchors links point to would change."""

    def outline(found: list[Heading]) -> str:
        return " ".join("#" * h.level for h in found) or "none"

    return (
        f"the translation changed the headings (the text has {outline(before)}, the "
        f"translation {outline(after)})"
    )


def _summed(usages: list[Usage]) -> Usage | None:
    if not usages:
        return None
    total = {
        f: sum(getattr(u, f) or 0 for u in usages)
        for f in ("prompt_tokens", "completion_tokens", "total_tokens")
    }
    return Usage(**total)


def translate_notebooks(
    paths: Sequence[str | os.PathLike[str]],
    to: str | None = None,
    preset: str | Preset | None = None,
    *,
    source: str | None = None,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    comments: bool = False,
    bilingual: bool = False,
    glossary: str | os.PathLike[str] | Glossary | None = None,
    concurrency: int = 4,
    chunk_chars: int = 4000,
    on_plan: Callable[[list[tuple[str, list[int]]]], None] = lambda plan: None,
    on_piece: Callable[[int, int, bool], None] = lambda doc, unit, cached: None,
    runner: Callable[[Any], Any] | None = None,
    default_to: str | None = None,
    record: bool = True,
    **overrides: Any,
) -> list[NotebookTranslation]:
    """Translate notebooks (.ipynb) and Markdown files (.md) into `to` (a tag or a name).

    Markdown cells are translated in pieces (never inside code fences, tables, LaTeX or HTML
    blocks; links, images, inline code and math kept); code cells stay byte-identical unless
    `comments`, which translates `#` comments and docstrings and proves the AST unchanged;
    outputs, attachments, metadata and ids are kept; the result validates with nbformat.
    Writes `lesson.<tag>.ipynb` beside each input (or to `output`), never over an existing
    file unless `force`. Every finished piece is cached, so a re-run sends only what is
    missing. Raises ConfigError for bad input, before anything is sent.

    `to` falls back to the preset's target language, then to `default_to`.
    `on_plan([(file name, [parts per cell])])` is called once before the first request and
    `on_piece(document, cell unit, cached)` as each part finishes; `runner` runs the
    coroutine (default: `run_sync`). Ctrl-C stops the run (KeyboardInterrupt) and writes
    nothing; the finished pieces stay in the cache. Each file leaves one row in the run
    history (kind "notebook"; also when interrupted or not written) unless `record` is False.
    """
    from ..wire.aio import run_sync
    from .translation import resolve_preset

    files = expand_paths(paths)
    chosen = resolve_preset(preset, **overrides)
    wanted = to or chosen.target_language or default_to
    if not wanted:
        raise ConfigError(
            "Name the language to translate into: --to fr (to='fr' in Python), a tag or a "
            "name such as 'French' or 'pt-BR'."
        )
    language = resolve_language(wanted)
    source_language = resolve_language(source) if source else None
    if isinstance(glossary, (str, os.PathLike)):
        terms: Glossary | None = read_glossary(glossary)
        chosen = chosen.replace(glossary=glossary)  # what the history records as used
    else:  # a Glossary, or the one the preset names (if any)
        terms = glossary if glossary is not None else preset_glossary(chosen)
    bounds.check("concurrency", concurrency)
    bounds.check("chunk_chars", chunk_chars)
    # Inputs that are this run's own outputs (a glob over docs/*.md after a first run).
    files = [f for f in files if not f.stem.endswith(f".{language.tag}") or len(files) == 1]
    targets = [output_path(f, language.tag, output, len(files) > 1) for f in files]
    for src, dest in zip(files, targets, strict=True):
        if dest.exists() and not dest.is_file():  # a device (/dev/null) or a pipe: not ours
            raise ConfigError(
                f"{dest} is not a regular file, so no translation is written there: give "
                f"{advice.flag('-o PATH', 'output=PATH')} naming a file or a folder."
            )
        if dest.exists() and not force:
            raise ConfigError(already_exists(dest))
        if dest == src and not force:
            raise ConfigError(
                f"The output would replace the input {src}: give "
                f"{advice.flag('-o PATH', 'output=PATH')} or "
                f"{advice.flag('--force', 'force=True')}."
            )
    if len(set(targets)) < len(targets):
        raise ConfigError(
            "Two inputs have the same name: give each its own "
            f"{advice.flag('-o FOLDER', 'output=FOLDER')}."
        )
    docs = [Document(f, comments=comments, chunk_chars=chunk_chars) for f in files]
    run = _Run(docs, chosen, language, source_language, terms, on_piece)
    on_plan([(d.path.name, [len(u.parts) for u in d.units]) for d in docs])
    rows: list[dict[str, Any]] = []
    reports = []
    try:
        try:
            (runner or run_sync)(run.run(concurrency))
        except KeyboardInterrupt:
            rows += [run.row(d, run.result(d)[1], _INTERRUPTED) for d in range(len(docs))]
            raise
        for d, (doc, dest) in enumerate(zip(docs, targets, strict=True)):
            texts, report = run.result(d)
            provenance = {"source": doc.path.name, "model": chosen.model, "preset": chosen.name}
            if source_language:
                provenance["source_language"] = source_language.tag
            try:
                translated = doc.assemble(
                    texts, tag=language.tag, bilingual=bilingual, provenance=provenance
                )
                verify(doc, translated, comments=comments, bilingual=bilingual)
                write_new(dest, translated, force=force)
            except CompatError as exc:
                rows.append(run.row(d, report, exc.message))
                raise
            report.output = dest
            rows.append(run.row(d, report))
            reports.append(report)
    finally:
        if record:
            history.record_many(rows)
    return reports
