"""Read a bbolt file (etcd's backend) bucket by bucket, read-only, in pure Python.

Enough of bbolt's format for etcd's snapshots: the two meta pages (the valid one with the
higher transaction id wins), branch and leaf pages with their overflow, nested and inline
buckets. Anything inconsistent raises BoltError rather than reading garbage.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

MAGIC = 0xED0CDAED
BRANCH, LEAF, META = 0x01, 0x02, 0x04
BUCKET_LEAF = 0x01
_PAGE = struct.Struct("<QHHI")  # id, flags, count, overflow
_META = struct.Struct("<IIII QQ QQQ Q".replace(" ", ""))
_BRANCH = struct.Struct("<IIQ")  # pos, ksize, pgid
_LEAF = struct.Struct("<IIII")  # flags, pos, ksize, vsize
_BUCKET = struct.Struct("<QQ")  # root pgid, sequence


class BoltError(ValueError):
    """Not a bbolt file, or a damaged one."""


class BoltFile:
    def __init__(self, data: bytes) -> None:
        self.data = data
        first = self._meta(0)
        second = self._meta(first[1] if first else 4096)
        metas = [meta for meta in (first, second) if meta is not None]
        if not metas:
            raise BoltError("not a bbolt file (no valid meta page)")
        _txid, self.page_size, self.root, high_water = max(metas)
        self.size = high_water * self.page_size  # bbolt's tx.Size()

    def _meta(self, offset: int) -> tuple[int, int, int, int] | None:
        """(txid, page size, root bucket page, high water page) of a valid meta page."""
        if offset + _PAGE.size + _META.size > len(self.data):
            return None
        _id, flags, _count, _overflow = _PAGE.unpack_from(self.data, offset)
        fields = _META.unpack_from(self.data, offset + _PAGE.size)
        magic, version, page_size, _flags, root, _seq, _freelist, pgid, txid, _check = fields
        if flags != META or magic != MAGIC or version != 2 or page_size < 512:
            return None
        return txid, page_size, root, pgid

    def _page(self, pgid: int) -> tuple[int, int, int]:
        """(offset, flags, count) of a page."""
        offset = pgid * self.page_size
        if offset + _PAGE.size > len(self.data):
            raise BoltError(f"page {pgid} is past the end of the file")
        _id, flags, count, _overflow = _PAGE.unpack_from(self.data, offset)
        return offset, flags, count

    def buckets(self) -> Iterator[tuple[bytes, Iterator[tuple[bytes, bytes]]]]:
        """(name, its (key, value) items) for each top-level bucket."""
        for name, value, is_bucket in self._items(self.data, self.root, 0):
            if is_bucket:
                yield (
                    name,
                    ((key, item) for key, item, nested in self._bucket_items(value) if not nested),
                )

    def _bucket_items(self, header: bytes) -> Iterator[tuple[bytes, bytes, bool]]:
        root, _sequence = _BUCKET.unpack_from(header)
        if root == 0:  # an inline bucket: its page follows the header
            yield from self._items(header[_BUCKET.size :], 0, 0, inline=True)
        else:
            yield from self._items(self.data, root, 0)

    def _items(
        self, data: bytes, pgid: int, depth: int, inline: bool = False
    ) -> Iterator[tuple[bytes, bytes, bool]]:
        if depth > 64:
            raise BoltError("b+tree too deep")
        if inline:
            offset = 0
            _id, flags, count, _overflow = _PAGE.unpack_from(data, 0)
        else:
            offset, flags, count = self._page(pgid)
        base = offset + _PAGE.size
        try:
            if flags == BRANCH:
                for n in range(count):
                    _pos, _ksize, child = _BRANCH.unpack_from(data, base + n * _BRANCH.size)
                    yield from self._items(self.data, child, depth + 1)
            elif flags == LEAF:
                for n in range(count):
                    element = base + n * _LEAF.size
                    item_flags, pos, ksize, vsize = _LEAF.unpack_from(data, element)
                    start = element + pos
                    key = bytes(data[start : start + ksize])
                    value = bytes(data[start + ksize : start + ksize + vsize])
                    if len(value) != vsize:
                        raise BoltError("an element runs past the end of the file")
                    yield key, value, bool(item_flags & BUCKET_LEAF)
            else:
                raise BoltError(f"page {pgid} is neither a branch nor a leaf")
        except struct.error as error:
            raise BoltError(f"damaged page {pgid}: {error}") from None
