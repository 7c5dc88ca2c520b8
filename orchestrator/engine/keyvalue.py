"""The ``key=value`` text of the small files that name a process: lock details, owners.

One field a line, split at the first ``=``, so a value may hold ``=`` but no line break
(a break in a value is written as a space). Lines without ``=`` are ignored, and a text
that lacks a field is not read at all: a file written half-way names nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def render_fields(values: Mapping[str, object]) -> str:
    """One ``key=value`` line per field, in the mapping's order."""
    return "".join(f"{name}={_one_line(str(value))}\n" for name, value in values.items())


def parse_fields(text: str, names: Collection[str]) -> dict[str, str]:
    """The value of each of ``names`` in :func:`render_fields`' text; ValueError if one is missing."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"no {', '.join(missing)} in the text")
    return {name: values[name] for name in names}


def _one_line(value: str) -> str:
    return value.replace("\n", " ").replace("\r", " ")
