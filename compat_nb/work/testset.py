"""The texts an evaluation translates: from a list, a pandas DataFrame or Series, a CSV/TSV or
JSONL file, or a text file of lines; each with an optional reference translation and optional
required terms.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["SOURCE_COLUMNS", "TestItem", "load_test_set"]

# Looked for in this order when no column is named.
SOURCE_COLUMNS = ("source", "src", "text", "sentence")
REFERENCE_COLUMNS = ("reference", "ref", "target", "translation")
TERMS_COLUMNS = ("terms", "required_terms")
TERM_SEPARATORS = (";", "|")


@dataclass(frozen=True)
class TestItem:
    """One text to translate, its reference translation (if any) and terms it must contain."""

    __test__ = False  # not a pytest test class, despite the name

    source: str
    reference: str | None = None
    terms: tuple[str, ...] = ()
    id: str | None = None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _terms(value: Any, where: str) -> tuple[str, ...]:
    if _missing(value):
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigError(f"{where}: the terms {text!r} are not a JSON list.") from None
        else:
            sep = next((s for s in TERM_SEPARATORS if s in text), None)
            return tuple(t.strip() for t in (text.split(sep) if sep else [text]) if t.strip())
    if isinstance(value, Iterable):
        return tuple(str(t).strip() for t in value if str(t).strip())
    raise ConfigError(f"{where}: terms must be a list or text separated by ';', not {value!r}.")


def _pick(
    columns: Sequence[str], named: str | None, defaults: Sequence[str], what: str
) -> str | None:
    if named is not None:
        if named not in columns:
            raise ConfigError(
                f"There is no {what} column {named!r}; the columns are: {', '.join(columns)}."
            )
        return named
    lowered = {c.lower(): c for c in columns}
    return next((lowered[d] for d in defaults if d in lowered), None)


def _from_records(
    records: Sequence[Mapping[str, Any]],
    *,
    source_column: str | None,
    reference_column: str | None,
    terms_column: str | None,
    origin: str,
) -> list[TestItem]:
    columns = list(dict.fromkeys(str(k) for r in records for k in r))
    source = _pick(columns, source_column, SOURCE_COLUMNS, "source")
    if source is None:
        if len(columns) == 1:
            source = columns[0]  # one column: it can only be the texts
        else:
            raise ConfigError(
                f"{origin} has no source column ({' / '.join(SOURCE_COLUMNS)}); its columns are "
                f"{', '.join(columns) or 'none'}. Name the one to translate: "
                'source_column="..." (and reference_column="..." for the references).'
            )
    reference = _pick(columns, reference_column, REFERENCE_COLUMNS, "reference")
    terms = _pick(columns, terms_column, TERMS_COLUMNS, "terms")
    items = []
    for n, record in enumerate(records, start=1):
        where = f"{origin}, row {n}"
        text = record.get(source)
        if _missing(text) or not str(text).strip():
            raise ConfigError(
                f"{where} has no text in column {source!r}: fill it or remove the row."
            )
        ref = record.get(reference) if reference else None
        identity = record.get("id")
        items.append(
            TestItem(
                source=str(text),
                reference=None if _missing(ref) else str(ref),
                terms=_terms(record.get(terms), where) if terms else (),
                id=None if _missing(identity) else str(identity),
            )
        )
    return items


def _read_file(path: Path) -> tuple[list[Any], str]:
    if not path.is_file():
        raise ConfigError(f"There is no file {str(path)!r} (relative to {os.getcwd()}).")
    suffix = path.suffix.lower()
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            if suffix in (".csv", ".tsv"):
                dialect = "excel-tab" if suffix == ".tsv" else "excel"
                return list(csv.DictReader(f, dialect=dialect)), path.name
            if suffix in (".jsonl", ".ndjson"):
                records = []
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except ValueError as exc:
                            raise ConfigError(
                                f"{path.name}, line {n} is not JSON ({exc})."
                            ) from None
                return records, path.name
            if suffix == ".json":
                data = json.load(f)
                if not isinstance(data, list):
                    raise ConfigError(f"{path.name} must hold a JSON list of texts or objects.")
                return data, path.name
            if suffix in (".txt", ".text", ""):
                return [line.rstrip("\r\n") for line in f if line.strip()], path.name
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name} is not UTF-8 text ({exc}); save it as UTF-8.") from None
    except (csv.Error, json.JSONDecodeError) as exc:
        raise ConfigError(f"Could not read {path.name} ({exc}).") from None
    raise ConfigError(
        f"{path.name}: use a .csv, .tsv, .jsonl, .json or .txt file (one text per line)."
    )


def load_test_set(
    data: Any,
    *,
    source_column: str | None = None,
    reference_column: str | None = None,
    terms_column: str | None = None,
) -> list[TestItem]:
    """The test set as TestItems, in input order.

    `data`: a path (.csv, .tsv, .jsonl, .json, .txt: one text a line), a list of texts, of
    (source, reference) pairs or of dicts, a pandas DataFrame or Series, or TestItems.
    Columns default to the first present of source/src/text/sentence, reference/ref/target/
    translation and terms/required_terms (a list, or text separated by ";" or "|").
    Raises ConfigError naming the row or column at fault.
    """
    named = {
        "source_column": source_column,
        "reference_column": reference_column,
        "terms_column": terms_column,
    }
    origin = "The test set"
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        if isinstance(data, str) and "\n" in data:
            raise ConfigError("Pass the texts as a list (or a file path), not one string.")
        data, origin = _read_file(path)
    pandas: Any = sys.modules.get("pandas")  # a frame can only come from an imported pandas
    if pandas is not None and isinstance(data, pandas.DataFrame):
        data = data.to_dict("records")
    elif pandas is not None and isinstance(data, pandas.Series):
        data = data.tolist()
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
        try:
            data = list(data)
        except TypeError:
            raise ConfigError(
                f"The test set must be texts: a list, a DataFrame or a file path, not "
                f"{type(data).__name__}."
            ) from None
    if not data:
        raise ConfigError(f"{origin} is empty: give at least one text to translate.")
    if all(isinstance(x, TestItem) for x in data):
        return list(data)
    if all(isinstance(x, Mapping) for x in data):
        return _from_records(data, origin=origin, **named)
    items = []
    for n, x in enumerate(data, start=1):
        if isinstance(x, (tuple, list)) and 1 <= len(x) <= 2 and isinstance(x[0], str):
            source, reference = x[0], (x[1] if len(x) == 2 else None)
        elif isinstance(x, str):
            source, reference = x, None
        else:
            raise ConfigError(
                f"{origin}, item {n} is {type(x).__name__}: give texts, (source, reference) "
                "pairs or dicts with a source key."
            )
        if not source.strip():
            raise ConfigError(f"{origin}, item {n} is empty: remove it or fill it in.")
        items.append(TestItem(source, None if _missing(reference) else str(reference)))
    return items
