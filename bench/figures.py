"""Figures: what a benchmark measured, its reference, its target, and the report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Measure:
    """One measured quantity, the median of some repetitions."""

    name: str
    value: float
    unit: str
    repetitions: int
    """How many repetitions ``value`` is the median of."""
    method: str
    """How one repetition was measured, such as ``wrk -t1 -c4 -d5s``."""
    samples: tuple[float, ...] = ()
    """Every repetition's value, in the order they were measured."""


@dataclass(frozen=True)
class Target:
    """A bound on a figure's value, or on its ratio to the reference."""

    of: Literal["value", "ratio"]
    at_least: bool
    """Whether the bound is a minimum (``>=``) rather than a maximum (``<``)."""
    bound: float
    unit: str = ""

    def met_by(self, value: float) -> bool:
        """Whether ``value`` (the figure's value or ratio) meets the target."""
        return value >= self.bound if self.at_least else value < self.bound

    def __str__(self) -> str:
        sign = ">=" if self.at_least else "<"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.of} {sign} {_number(self.bound)}{unit}"


@dataclass(frozen=True)
class Figure:
    """A measure, the reference measured beside it, and the target it must meet."""

    measure: Measure
    reference: Measure
    target: Target

    @property
    def ratio(self) -> float:
        """The measure's value divided by the reference's."""
        if self.reference.value == 0:
            return math.inf
        return self.measure.value / self.reference.value

    @property
    def met(self) -> bool:
        """Whether the target is met."""
        value = self.ratio if self.target.of == "ratio" else self.measure.value
        return self.target.met_by(value)

    def to_dict(self) -> dict[str, Any]:
        """Return the figure as the JSON report holds it."""
        return {
            "measure": asdict(self.measure),
            "reference": asdict(self.reference),
            "ratio": self.ratio,
            "target": {**asdict(self.target), "text": str(self.target)},
            "met": self.met,
        }


@dataclass(frozen=True)
class Result:
    """What one benchmark returned, and how long it took."""

    name: str
    figures: list[Figure]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return the result as the JSON report holds it."""
        return {
            "name": self.name,
            "seconds": round(self.seconds, 1),
            "figures": [f.to_dict() for f in self.figures],
        }


def print_table(results: Sequence[Result], console: Console) -> None:
    """Print every figure of every result as one table, then how each was measured."""
    table = Table(title="UniFlow benchmarks", box=box.SIMPLE_HEAD)
    for column in ("Figure", "Value", "Median of", "Reference", "Ratio", "Target"):
        table.add_column(column, justify="left" if column == "Figure" else "right")
    table.add_column("Met")

    for result in results:
        table.add_row(f"[bold]{result.name}")
        for figure in result.figures:
            measure, reference = figure.measure, figure.reference
            repetitions = str(measure.repetitions)
            if reference.repetitions != measure.repetitions:
                repetitions += f" / {reference.repetitions}"
            table.add_row(
                f"  {measure.name}",
                f"{_number(measure.value)} {measure.unit}",
                repetitions,
                f"{reference.name} {_number(reference.value)} {reference.unit}",
                f"{figure.ratio:.2f}",
                str(figure.target),
                "[green]yes" if figure.met else "[red]no",
            )
    console.print(table)

    for result in results:
        for figure in result.figures:
            for measure in (figure.measure, figure.reference):
                console.print(
                    f"[bold]{measure.name}[/]: {measure.method}", highlight=False
                )


def all_met(results: Sequence[Result]) -> bool:
    """Whether every figure of every result met its target."""
    return all(f.met for r in results for f in r.figures)


def write_json(results: Sequence[Result], path: Path, context: dict[str, Any]) -> None:
    """Write every result to ``path`` as JSON, after facts about the run."""
    report = {
        **context,
        "met": all_met(results),
        "benchmarks": [r.to_dict() for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"
