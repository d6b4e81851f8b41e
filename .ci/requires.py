"""Print one requirement list of pyproject.toml, one per line, on Python >= 3.10.

    python .ci/requires.py build-system requires
    python .ci/requires.py project.optional-dependencies mpi

The package supports Python 3.10, which has no ``tomllib``; this reads only what CI
needs (an array of strings under a table, possibly over several lines).
tests/test_tooling.py checks it against ``tomllib`` for every list in pyproject.toml.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

_TABLE = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*(#.*)?$")
_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*=\s*(\[.*)$")


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside a string stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == "\\":
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def string_array(text: str, table: str, key: str) -> list[str]:
    """The array of strings ``key`` of ``[table]`` in the TOML ``text``."""
    current = None
    lines = iter(text.splitlines())
    for line in lines:
        stripped = line.strip()
        header = _TABLE.match(stripped)
        if header:
            current = header.group(1)
            continue
        match = _KEY.match(stripped)
        if current != table or not match or match.group(1) != key:
            continue
        value = _strip_comment(match.group(2))
        while value.count("[") > value.count("]"):
            value += " " + _strip_comment(next(lines).strip())
        items = ast.literal_eval(value)
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ValueError(f"[{table}] {key} is not an array of strings")
        return items
    raise KeyError(f"no {key} = [...] in [{table}]")


def main(argv: list[str]) -> int:
    table, key = argv
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    print("\n".join(string_array(pyproject.read_text(), table, key)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
