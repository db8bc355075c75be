"""Progress reporting for long work: a rich bar on a terminal, plain lines otherwise.

On a terminal the bar shows the step count, rate, ETA and the latest metrics. When output
is not a terminal (a log file, CI) it prints one plain line per tenth of the work, and
nothing at all when ``quiet``.

Example:
    >>> with Progress(100, "training", quiet=True) as bar:
    ...     for step in range(100):
    ...         bar.update(loss=1.0 / (step + 1))
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress


class Progress:
    """Context manager that reports ``total`` steps of work.

    Args:
        total: number of steps.
        description: what is being done, e.g. ``"epoch 3/10"``.
        quiet: print nothing.
        stream: where to write; standard output by default.
    """

    def __init__(
        self, total: int, description: str, quiet: bool = False, stream: TextIO | None = None
    ) -> None:
        self.total, self.description, self.quiet = total, description, quiet
        self.stream = stream or sys.stdout
        self.done = 0
        self._rich: RichProgress | None = None
        self._task = None
        self._next_line = max(1, total // 10)

    def __enter__(self) -> Progress:
        if not self.quiet and self.stream.isatty():
            console = Console(file=self.stream)
            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=console,
            )
            self._rich.start()
            self._task = self._rich.add_task(
                self.description, total=self.total, metrics="", rate=""
            )
        return self

    def update(self, advance: int = 1, **metrics: float) -> None:
        """Mark ``advance`` more steps done and show the latest ``metrics``."""
        self.done += advance
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        if self._rich is not None:
            task = self._rich.tasks[0]
            rate = f"{task.speed:.1f} it/s" if task.speed else ""
            self._rich.update(self._task, advance=advance, metrics=text, rate=rate)
        elif not self.quiet and (self.done >= self._next_line or self.done == self.total):
            print(
                f"{self.description}: {self.done}/{self.total}  {text}".rstrip(),
                file=self.stream,
                flush=True,
            )
            self._next_line = self.done + max(1, self.total // 10)

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()
