"""Progress of a long command: a bar redrawn in place on a terminal, a few plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
# On a terminal, at most this many redraws a second; elsewhere, a line per tenth of the work.
REDRAWS_PER_SECOND = 10
LINE_EVERY = 0.1


class Progress:
    """`advance(done)` as the work goes on, `finish()` at the end. Counts, never time estimates:
    a ledger's wallets differ too much in size for one to mean anything."""

    def __init__(self, label: str, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._last_share = -1.0
        self._done = 0

    def advance(self, done: int) -> None:
        self._done = done
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw >= 1 / REDRAWS_PER_SECOND:
                self._last_draw = now
                self.stream.write("\r" + self._bar())
                self.stream.flush()
            return
        share = self._share()
        if share - self._last_share >= LINE_EVERY:
            self._last_share = share
            self._line()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\r" + self._bar() + "\n")
            self.stream.flush()
        elif self._share() > self._last_share:
            self._line()

    def _share(self) -> float:
        return min(self._done / self.total, 1.0) if self.total else 1.0

    def _counts(self) -> str:
        seconds = time.monotonic() - self._started
        return f"{self._done:,} of {self.total:,} {self.unit} ({seconds:.0f} s)"

    def _bar(self) -> str:
        filled = round(self._share() * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {self._share():4.0%} {self._counts()}"

    def _line(self) -> None:
        print(f"{self.label}: {self._share():.0%}, {self._counts()}", file=self.stream, flush=True)
