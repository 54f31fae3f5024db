"""What the log and file viewers show: text read from disk (at most 1 MB), a hex dump for
binary files, and the search over it. No urwid here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

MAX_BYTES = 1024 * 1024  # the viewers show files up to 1 MB (more: the part that matters)
HEX_PREVIEW_BYTES = 4096
BINARY_SNIFF_BYTES = 8192

NO_LOG_CONTENT = "No log content available"
NO_LOG_REASONS = (
    "Logs may not be available if:",
    "  - the job hasn't run yet",
    "  - you're on a different machine than where jobs ran",
    "  - the output directory is in a different location",
)


@dataclass
class Content:
    """Lines to show, where they came from and anything the reader should know about them."""

    lines: list[str]
    path: str | None = None
    note: str = ""  # "binary file: hex dump of the first 4 KB", "last 1 MB of 3.2 MB"...
    available: bool = True
    source: str = "Path"  # what ``path`` is: a file's path, or the command that wrote it


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def is_binary(data: bytes) -> bool:
    """NUL bytes, or bytes that are not UTF-8 text (a cut multi-byte character at the end of
    the sample does not count)."""
    sample = data[:BINARY_SNIFF_BYTES]
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(sample) - 4
    return False


def hex_dump(data: bytes, start: int = 0) -> list[str]:
    """``00000000  7f 45 4c 46 02 01 …  |.ELF..|`` lines, 16 bytes each."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text_part = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{start + offset:08x}  {hex_part:<47}  |{text_part}|")
    return lines


def read_file(path: str, *, tail: bool = False, limit: int = MAX_BYTES) -> Content:
    """A file's text (the first ``limit`` bytes, or the last with ``tail``: logs grow at
    the end) or, for a binary file, a hex dump of its start. Raises OSError."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if tail and size > limit:
            handle.seek(size - limit)
        data = handle.read(limit)
    if is_binary(data[:BINARY_SNIFF_BYTES]):
        shown = min(size, HEX_PREVIEW_BYTES)
        note = f"binary file ({human_size(size)}): hex dump of the first {human_size(shown)}"
        with open(path, "rb") as handle:
            return Content(hex_dump(handle.read(HEX_PREVIEW_BYTES)), path, note)
    text = data.decode("utf-8", errors="replace")
    note = ""
    if size > limit:
        part = "last" if tail else "first"
        note = f"showing the {part} {human_size(limit)} of {human_size(size)}"
        if tail:  # the first line is cut: drop it
            text = text.partition("\n")[2]
    return Content(text.splitlines() or [""], path, note)


def read_log(path: str | None) -> Content:
    """A job or Slurm log: its end, or the seed's "No log content available" with the
    reasons why and the path looked at."""
    if path is not None:
        try:
            content = read_file(path, tail=True)
        except FileNotFoundError:
            pass
        except OSError as exc:
            return Content([f"{NO_LOG_CONTENT}: {exc.strerror or exc}"], path, available=False)
        else:
            if content.lines == [""]:
                content.lines = ["(empty)"]
            return content
    lines = [NO_LOG_CONTENT, "", *NO_LOG_REASONS]
    if path is not None:
        lines += ["", f"Looked for: {path}"]
    return Content(lines, path, available=False)


def read_any(path: str) -> Content:
    """A workflow file for the file viewer; a readable message when it cannot be read."""
    try:
        return read_file(path)
    except FileNotFoundError:
        return Content(
            [f"File not found: {path}", "", "It may not have been created yet."],
            path,
            available=False,
        )
    except IsADirectoryError:
        return Content([f"{path} is a directory"], path, available=False)
    except OSError as exc:
        return Content([f"Cannot read {path}: {exc.strerror or exc}"], path, available=False)


@dataclass
class Search:
    """Case-insensitive matches of ``pattern`` in ``lines``: (line, start, end) in order."""

    pattern: str
    lines: list[str]
    matches: list[tuple[int, int, int]] = field(default_factory=list)
    current: int = -1
    by_line: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.pattern:
            return
        found = re.compile(re.escape(self.pattern), re.IGNORECASE)
        for number, line in enumerate(self.lines):
            for match in found.finditer(line):
                self.matches.append((number, match.start(), match.end()))
                self.by_line.setdefault(number, []).append((match.start(), match.end()))

    def first_from(self, line: int) -> int | None:
        """Go to the first match at or after ``line`` (wrapping); its line."""
        if not self.matches:
            return None
        after = [i for i, match in enumerate(self.matches) if match[0] >= line]
        self.current = after[0] if after else 0
        return self.matches[self.current][0]

    def step(self, forward: bool = True) -> int | None:
        """The next (or previous) match, wrapping around; its line."""
        if not self.matches:
            return None
        self.current = (self.current + (1 if forward else -1)) % len(self.matches)
        return self.matches[self.current][0]

    def in_line(self, line: int) -> list[tuple[int, int, bool]]:
        """(start, end, is_current) of the matches in one line."""
        current = self.matches[self.current] if self.current >= 0 else None
        return [
            (start, end, (line, start, end) == current) for start, end in self.by_line.get(line, [])
        ]

    def describe(self) -> str:
        if not self.matches:
            return f"'{self.pattern}': no matches"
        return f"'{self.pattern}': match {self.current + 1} of {len(self.matches)}"
