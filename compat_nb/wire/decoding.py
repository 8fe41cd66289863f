"""A body's Content-Encoding undone in bounded steps: a few kilobytes of gzip can unpack to
gigabytes, and `gzip, gzip` multiplies that.

httpx inflates each network read whole, and each layer of a stacked encoding in turn, so a
7 KB body marked `Content-Encoding: gzip, gzip` took a kernel past 4 GB before the size cap
saw a byte. Here every layer hands out at most `PIECE` bytes per step, only as the reader asks
for them, and every layer but the last stops at the answer's size cap (the reader counts the
last one's output against the same cap). Only what the client asks for (`ACCEPT_ENCODING`)
is read; a server that sends another coding gets a message naming it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "PIECE",
    "DecodedTooLarge",
    "UnreadableEncoding",
    "aiter_body",
    "iter_body",
]

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024  # the most one layer hands out per step
_GZIP = zlib.MAX_WBITS | 16
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": _ZLIB}


class DecodedTooLarge(httpx.DecodingError):
    """A compressed layer of the body unpacked past the answer's size cap (`limit` bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__("a compressed layer of the body unpacked past the size cap")
        self.limit = limit


class UnreadableEncoding(httpx.DecodingError):
    """The body is in a Content-Encoding the client did not ask for; `coding` names it."""

    def __init__(self, coding: str | None) -> None:
        super().__init__("the body is in a content coding that was not asked for")
        self.coding = coding  # None when its name is not a plain token (never quoted then)


class _Layer:
    """One gzip or deflate layer: input in, output in pieces of at most PIECE bytes."""

    def __init__(self, coding: str, limit: int | None) -> None:
        self.coding = coding
        self.limit = limit  # None: the last layer, whose output the reader counts
        self.produced = 0
        self._wbits = _WBITS[coding]
        self._inflate = zlib.decompressobj(self._wbits)
        # deflate is zlib-wrapped (RFC 9110) or raw, as some servers send it: the first two
        # bytes (zlib's header) tell, so they are kept until then.
        self._head: bytes | None = b"" if self._wbits == _ZLIB else None
        self._member_start = False  # gzip: a later member (or padding) begins here

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._head is not None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, None
            cmf, flg = data[0], data[1]
            if cmf & 0x0F != 8 or (cmf << 8 | flg) % 31:
                self._wbits = _RAW_DEFLATE
                self._inflate = zlib.decompressobj(_RAW_DEFLATE)
        while True:
            try:
                out = self._inflate.decompress(data, PIECE)
            except zlib.error as exc:
                if self._member_start:
                    return  # padding after a whole gzip member: ignored, as httpx does
                raise httpx.DecodingError(f"{self.coding}: {exc}") from None
            if out:
                self._member_start = False
            yield from self._count(out)
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:
                # gzip allows several members one after another (RFC 1952 §2.2).
                data = self._inflate.unused_data if self._wbits == _GZIP else b""
                if not data:
                    return
                self._inflate, self._member_start = zlib.decompressobj(_GZIP), True
            elif not data and len(out) < PIECE:
                return  # all input taken and nothing left inside zlib

    def _count(self, out: bytes) -> Iterator[bytes]:
        if not out:
            return
        self.produced += len(out)
        if self.limit is not None and self.produced > self.limit:
            raise DecodedTooLarge(self.limit)
        yield out

    def flush(self) -> Iterator[bytes]:
        if self._head:  # a one-byte body
            yield from self.feed(b"")
        yield from self._count(self._inflate.flush())


def _layers(content_encoding: str, limit: int) -> list[_Layer]:
    """The layers to undo, outermost (applied last by the server) first."""
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in _WBITS:
            plain = re.fullmatch(r"[a-z0-9.+-]{1,20}", coding)
            raise UnreadableEncoding(coding if plain else None)
    layers = [_Layer(c, limit) for c in reversed(codings)]
    if layers:
        layers[-1].limit = None
    return layers


def _through(layers: list[_Layer], index: int, data: bytes) -> Iterator[bytes]:
    if index == len(layers):
        yield data
        return
    for piece in layers[index].feed(data):
        yield from _through(layers, index + 1, piece)


def _flushed(layers: list[_Layer]) -> Iterator[bytes]:
    for index, layer in enumerate(layers):
        for piece in layer.flush():
            yield from _through(layers, index + 1, piece)


def iter_body(response: httpx.Response, limit: int) -> Iterator[bytes]:
    """The body's bytes as sent, decoded; raises DecodedTooLarge, UnreadableEncoding or
    httpx.DecodingError (all httpx.DecodingError) from the iteration."""
    layers = _layers(response.headers.get("content-encoding", ""), limit)
    raw: Iterable[bytes] = response.iter_raw()
    if not layers:
        yield from raw
        return
    for data in raw:
        yield from _through(layers, 0, data)
    yield from _flushed(layers)


async def aiter_body(response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
    """`iter_body` for an async response."""
    layers = _layers(response.headers.get("content-encoding", ""), limit)
    raw: AsyncIterable[bytes] = response.aiter_raw()
    if not layers:
        async for data in raw:
            yield data
        return
    async for data in raw:
        for piece in _through(layers, 0, data):
            yield piece
    for piece in _flushed(layers):
        yield piece
