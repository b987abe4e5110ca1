"""Step-by-step progress lines for long pipelines (to stderr, so stdout stays data)."""

from __future__ import annotations

import sys
import time


class Steps:
    def __init__(self, total: int) -> None:
        self.total = total
        self.index = 0
        self.started = time.monotonic()
        self.step_started = self.started

    def start(self, title: str) -> None:
        self.index += 1
        self.step_started = time.monotonic()
        print(f"[{self.index}/{self.total}] {title} ...", file=sys.stderr, flush=True)

    def done(self, detail: str = "") -> float:
        took = time.monotonic() - self.step_started
        print(f"      done in {took:.1f} s{': ' + detail if detail else ''}", file=sys.stderr,
              flush=True)
        return took

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started
