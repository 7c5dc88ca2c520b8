"""A build's log: its output streamed to a file as it arrives, and its last lines kept.

Each chunk of output costs time in proportion to its own length, whatever came before, so
50 MB of output, or 10 MB without a newline, stream as fast as they arrive; only the last
:data:`TAIL_LINES` lines (each cut to :data:`TAIL_LINE_CHARS`) stay in memory, for the
console, the JSON summary and the report when a build fails.
"""

from __future__ import annotations

import codecs
from collections import deque
from pathlib import Path

TAIL_LINES = 20
# A line longer than this is kept in the tail by its end only.
TAIL_LINE_CHARS = 1000


class LogStream:
    """A sink for remote output: the log file (up to a size) and the last lines in memory.

    Past ``limit`` bytes the output is counted but no longer written, and the log says so.
    """

    def __init__(self, path: Path, limit: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", errors="replace")
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""
        self._carriage = ""
        self._limit = limit
        self.received = 0
        self._written = 0

    def __call__(self, data: bytes) -> None:
        """Take a chunk of output; a pty sends CRLF line ends, the log gets LF."""
        self.received += len(data)
        text = self._carriage + self._decoder.decode(data)
        # A CRLF split between two chunks must still become one LF.
        self._carriage = "\r" if text.endswith("\r") else ""
        text = text[: len(text) - len(self._carriage)].replace("\r\n", "\n")
        self._write(text)
        lines = text.split("\n")
        if len(lines) == 1:
            self._partial = (self._partial + text)[-TAIL_LINE_CHARS:]
            return
        self._tail.append((self._partial + lines[0])[-TAIL_LINE_CHARS:])
        self._tail.extend(line[-TAIL_LINE_CHARS:] for line in lines[1:-1][-TAIL_LINES:])
        self._partial = lines[-1][-TAIL_LINE_CHARS:]

    def _write(self, text: str) -> None:
        if self._written >= self._limit:
            return
        room = self._limit - self._written
        if len(text) > room:  # characters, a close enough measure of bytes here
            self._file.write(text[:room])
            self._file.write(f"\n[log stops here: more than {self._limit} bytes of output]\n")
            self._written = self._limit
            return
        self._file.write(text)
        self._written += len(text)

    def close(self) -> None:
        """Close the log file."""
        self._file.write(self._carriage)
        self._file.close()

    def tail(self) -> tuple[str, ...]:
        """The last lines written."""
        lines = [*self._tail, self._partial] if self._partial else list(self._tail)
        return tuple(lines[-TAIL_LINES:])
