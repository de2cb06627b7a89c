"""A Keras-style text progress bar::

    12/47 ━━━━━━━━━━━━━━━━━━━━ 1s 9ms/step - loss: 0.4121 - accuracy: 0.8867

On a terminal the line is redrawn in place (at most ~10 times a second); when output is
redirected to a file it is written once, when the bar completes.
"""

from __future__ import annotations

import sys
import time


def format_value(value) -> str:
    value = float(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.4e}"
    return f"{value:.4f}"


def format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def format_per_step(seconds: float, unit: str = "step") -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """Progress of ``target`` steps. ``update(current, values)`` with values a dict of numbers."""

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.1,
                 unit_name: str = "step", stream=None):
        self.target, self.width, self.verbose, self.interval = target, width, verbose, interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self.dynamic = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_width = 0

    def update(self, current: int, values: dict | None = None, finalize: bool | None = None) -> None:
        if self.verbose == 0:
            return
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.perf_counter()
        if not finalize and (not self.dynamic or self.verbose != 1 or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        line = self._bar(current)
        if finalize:
            line += f" {format_time(elapsed)} {format_per_step(per_step, self.unit_name)}"
        else:
            eta = per_step * (self.target - current) if self.target else 0.0
            line += f" {format_time(eta)} {format_per_step(per_step, self.unit_name)}"
        for key, value in (values or {}).items():
            line += f" - {key}: {format_value(value)}"
        if self.dynamic and self.verbose == 1:
            padding = " " * max(self._last_width - len(line), 0)
            self.stream.write("\r" + line + padding + ("\n" if finalize else ""))
            self._last_width = len(line)
        elif finalize:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _bar(self, current: int) -> str:
        if self.target is None:
            return f"{current}"
        digits = len(str(self.target))
        filled = int(self.width * min(current, self.target) / max(self.target, 1))
        bar = "━" * filled
        if filled < self.width:
            rest = "━" * (self.width - filled)
            bar += f"\x1b[2m{rest}\x1b[0m" if self.dynamic else "─" * (self.width - filled)
        return f"{current:>{digits}}/{self.target} {bar}"
