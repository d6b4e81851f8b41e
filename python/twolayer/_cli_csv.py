"""CSV files of the command line (``twolayer train`` and ``predict``): read, check, write.

Errors are ``CLIError``: the command line prints them as ``twolayer: error: ...``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

import numpy as np


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


# ----------------------------------------------------------------- option types
def read_csv(path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file with a header line (comma-separated)."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"data file '{path}' does not exist")
    if not path.is_file():
        raise CLIError(f"data file '{path}' is not a file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if row and any(c.strip() for c in row)]
    except UnicodeDecodeError:
        raise CLIError(f"'{path}' is not a text CSV file (it is not UTF-8)") from None
    except csv.Error as exc:
        raise CLIError(f"'{path}' is not a valid CSV file: {exc}") from None
    if not rows:
        raise CLIError(f"'{path}' is empty: expected a header line and data rows")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        duplicates = sorted({n for n in header if header.count(n) > 1})
        raise CLIError(f"'{path}' has duplicate column names: {', '.join(duplicates)}")
    body = rows[1:]
    if not body:
        raise CLIError(f"'{path}' has a header but no data rows")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise CLIError(
                f"'{path}' line {number} has {len(row)} fields, the header has {len(header)}"
            )
    return header, body


def numeric_columns(
    path: str | Path, header: list[str], rows: list[list[str]], columns: list[str], hint: str = ""
) -> np.ndarray:
    """The named columns as a float64 array of shape (n_rows, len(columns)).

    ``hint`` ends the message about a non-numeric value (e.g. naming --drop).
    """
    index = [header.index(name) for name in columns]
    out = np.empty((len(rows), len(columns)))
    for i, row in enumerate(rows):
        for j, k in enumerate(index):
            text = row[k].strip()
            try:
                out[i, j] = float(text)
            except ValueError:
                what = "an empty value" if not text else f"{text!r}, which is not a number"
                raise CLIError(
                    f"'{path}' line {i + 2}, column '{columns[j]}': {what} "
                    f"(feature columns must be numeric{', ' + hint if hint else ''})"
                ) from None
            if not np.isfinite(out[i, j]):
                raise CLIError(
                    f"'{path}' line {i + 2}, column '{columns[j]}': {text!r} is not finite"
                )
    return out


def _labels(values: list[str]) -> np.ndarray:
    """Target labels: numbers when every value is one, otherwise the strings."""
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        return np.array(values)
    if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)):
        return numbers.astype(np.int64)
    return numbers


def _write_csv(handle: TextIO, header: list[str], table: list[list[str]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
