"""Progress of a long fit on stderr (``fit(..., verbose=True)``)."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


class Progress:
    """Progress on stderr: a live bar on a terminal, plain lines (about 1 per second) otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, unit: str = "iteration") -> None:
        self.total = total
        self.unit = unit  # "epoch" when fit trains in mini-batch epochs
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.started = time.perf_counter()
        self.last_line = self.started
        self.last_draw = -math.inf

    def _status(self, done: int, cost: float) -> str:
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else 0.0
        width = len(str(self.total))
        return (
            f"{self.unit} {done:>{width}}/{self.total}  cost {cost:.6g}  "
            f"{rate:,.0f} {'it' if self.unit == 'iteration' else self.unit + 's'}/s  "
            f"{left:.1f} s left"
        )

    def update(self, done: int, cost: float) -> None:
        now = time.perf_counter()
        if self.tty:
            if now - self.last_draw < 0.05 and done < self.total:
                return  # single-iteration chunks (validation) would redraw thousands of times
            self.last_draw = now
            filled = int(20 * done / max(self.total, 1))
            bar = "#" * filled + "-" * (20 - filled)
            self.stream.write(f"\r[{bar}] {self._status(done, cost)}\x1b[K")
            self.stream.flush()
        elif now - self.last_line >= 1.0:
            self.last_line = now
            print(self._status(done, cost), file=self.stream, flush=True)

    def close(self, done: int, cost: float, stopped: str | None) -> None:
        elapsed = time.perf_counter() - self.started
        how = f", stopped early ({stopped})" if stopped else ""
        end = "\n" if self.tty else ""
        self.stream.write(
            f"{end}done: {done} {self.unit}s in {elapsed:.2f} s, last cost {cost:.6g}{how}\n"
        )
        self.stream.flush()
