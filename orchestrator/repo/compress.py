"""Index compression in independently compressed pieces, so unchanged pieces are reused.

An index (``Packages``, ``primary.xml``...) is cut into segments of packages; each is
compressed on its own and the pieces are joined: gzip members back to back (a valid
multi-member gzip file, RFC 1952), and xz blocks inside one xz stream (as ``xz -T`` writes
them). apt reads only the first *stream* of an xz file, so the blocks must share one stream,
which is why this module writes the stream container itself (xz-file-format.txt, 1.1.0).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Packages per segment, on average: small enough that adding a few packages recompresses
# little, large enough that compression still finds repetition.
SEGMENT_PACKAGES = 128
MAX_SEGMENTS = 1024
GZIP_LEVEL = 6
# Preset 0 with a 1 MiB dictionary: a segment is far smaller than that, and preset 0 is
# about ten times faster than the default for a few percent of size on index text.
_DICT_SIZE = 1 << 20
_DICT_PROPERTY = 16  # 2 ** (16 / 2 + 12) == 1 MiB
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": _DICT_SIZE}]
_CHECK_CRC32 = 0x01
_STREAM_FLAGS = bytes((0x00, _CHECK_CRC32))
_HEADER_MAGIC = b"\xfd7zXZ\x00"
_FOOTER_MAGIC = b"YZ"


def segment_count(packages: int) -> int:
    """How many segments an index of ``packages`` entries is cut into.

    A power of two, so packages move between segments only when the index doubles or halves.
    """
    count = 1
    while count * SEGMENT_PACKAGES < packages and count < MAX_SEGMENTS:
        count *= 2
    return count


def segment_of(name: str, count: int) -> int:
    """The segment a package belongs to: stable for as long as ``count`` is."""
    return zlib.crc32(name.encode("utf-8")) % count


def segments(names: Iterable[str]) -> list[list[str]]:
    """Package names (pool paths, hrefs) grouped into segments, each sorted.

    A segment's content depends only on its packages (package files never change), so
    adding a package changes only its own segment.
    """
    ordered = sorted(names)
    count = segment_count(len(ordered))
    buckets: list[list[str]] = [[] for _ in range(count)]
    for name in ordered:
        buckets[segment_of(name, count)].append(name)
    return [bucket for bucket in buckets if bucket]


def segment_key(layout: str, names: Sequence[str]) -> str:
    """Cache key of a segment: its packages and the version of the format it is rendered in."""
    return hashlib.sha256("\n".join((layout, *names)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class XzBlock:
    """One xz block: its bytes (padding included) and the sizes the stream index records."""

    data: bytes
    unpadded_size: int
    uncompressed_size: int


def gzip_member(raw: bytes) -> bytes:
    """One gzip member; mtime 0 so equal input gives equal output."""
    return gzip.compress(raw, GZIP_LEVEL, mtime=0)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _pad4(length: int) -> bytes:
    return b"\x00" * (-length % 4)


def _crc32(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


def xz_block(raw: bytes) -> XzBlock:
    """Compress ``raw`` into one self-contained LZMA2 block with a CRC32 check."""
    compressed = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_FILTERS)
    # Block header: size, flags (one filter, no optional sizes), LZMA2 filter flags, padding.
    fields = bytes((0x00, 0x21, 0x01, _DICT_PROPERTY))
    body_length = 1 + len(fields)
    header_length = body_length + (-body_length % 4) + 4
    header_body = bytes((header_length // 4 - 1,)) + fields + _pad4(body_length)
    header = header_body + _crc32(header_body)
    check = _crc32(raw)
    data = header + compressed + _pad4(len(header) + len(compressed)) + check
    return XzBlock(data, len(header) + len(compressed) + len(check), len(raw))


def xz_stream(blocks: Sequence[XzBlock]) -> bytes:
    """An xz file holding ``blocks`` in one stream."""
    index = bytearray(b"\x00")
    index += _varint(len(blocks))
    for block in blocks:
        index += _varint(block.unpadded_size) + _varint(block.uncompressed_size)
    index += _pad4(len(index))
    index += _crc32(bytes(index))
    backward = struct.pack("<I", len(index) // 4 - 1) + _STREAM_FLAGS
    return b"".join(
        (
            _HEADER_MAGIC,
            _STREAM_FLAGS,
            _crc32(_STREAM_FLAGS),
            *(block.data for block in blocks),
            bytes(index),
            _crc32(backward),
            backward,
            _FOOTER_MAGIC,
        )
    )
