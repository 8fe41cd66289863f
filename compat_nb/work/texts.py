"""The texts a batch translates, as the caller gave them: a list, or a pandas Series read a block
at a time.

A Series of str in pandas 3 holds its text in Arrow buffers: `tolist()` makes a Python str of
every row at once (~90 bytes each: 90 MB for a million rows) before the first request. A batch
reads its texts in order, so `SeriesTexts` makes them a block at a time, as the workers and the
assembly reach them, and keeps the last few blocks only.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, overload

from ..errors import ConfigError

__all__ = ["SeriesTexts", "texts_of"]

_NOT_A_LIST = (
    "translate_many takes a list or a pandas Series of texts; for one text use translate()."
)
BLOCK = 4096  # rows made into Python str at once
BLOCKS_KEPT = 4  # the workers' block and the assembly's, with room for a text that lags


class SeriesTexts(Sequence[str | None]):
    """A Series' rows as str (missing values as None), made a block at a time.

    `check()` reads every row once, a block at a time, and raises ConfigError naming the
    first row that is neither text nor missing.
    """

    def __init__(self, series: Any) -> None:
        self.series = series
        self._blocks: OrderedDict[int, list[str | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.series)

    @overload
    def __getitem__(self, i: int) -> str | None: ...

    @overload
    def __getitem__(self, i: slice) -> list[str | None]: ...

    def __getitem__(self, i: int | slice) -> str | list[str | None] | None:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        start = i - i % BLOCK
        block = self._blocks.get(start)
        if block is None:
            block = self._blocks[start] = self._make(start)
            while len(self._blocks) > BLOCKS_KEPT:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(start)
        return block[i - start]

    def _make(self, start: int) -> list[str | None]:
        pandas: Any = sys.modules["pandas"]
        rows = self.series.iloc[start : start + BLOCK].tolist()
        for k, item in enumerate(rows):
            if isinstance(item, str):
                continue
            if pandas.api.types.is_scalar(item) and pandas.isna(item):
                rows[k] = None  # NaN or None in a data set column: left missing
                continue
            where = f"the item at index {self.series.index[start + k]!r}"
            raise ConfigError(f"translate_many takes str items; {where} is {type(item).__name__}.")
        return rows

    def check(self) -> None:
        for start in range(0, len(self), BLOCK):
            self._make(start)


def texts_of(texts: Any) -> tuple[Sequence[str | None], Any]:
    """The texts as a sequence (a Series' missing values as None, its rows made as they are
    read), and the Series if it is one. Raises ConfigError for anything but text or missing."""
    if isinstance(texts, (str, bytes)):
        raise ConfigError(_NOT_A_LIST)
    pandas: Any = sys.modules.get("pandas")  # a Series can only come from an imported pandas
    if pandas is not None and isinstance(texts, pandas.Series):
        column = SeriesTexts(texts)
        column.check()
        return column, texts
    try:
        items: list[Any] = list(texts)
    except TypeError:
        raise ConfigError(f"{_NOT_A_LIST} Got {type(texts).__name__}.") from None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(f"translate_many takes str items; item {i} is {type(item).__name__}.")
    return items, None
