"""The lab block read back into rows and written again: the perturbations edit rows, not text. A row is the build's
``name,fluid,category,value,valueuom,lower_bound,upper_bound`` (a name may hold commas: the six other fields never
do); a value is normal when it lies inside its reference range, abnormal outside it, and neither when it is not a
number or the row has no range."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from medldr.assemble.render import LAB_HEADER, LAB_PREFIX
from medldr.schema import Case


@dataclass(frozen=True)
class LabRow:
    name: str
    fluid: str
    category: str
    value: str
    uom: str
    lower: str
    upper: str

    @classmethod
    def parse(cls, line: str) -> LabRow:
        name, *rest = line.rsplit(",", 6)
        if len(rest) != 6:
            raise ValueError(f"not a lab row: {line!r}")
        return cls(name, *rest)

    def line(self) -> str:
        return ",".join((self.name, self.fluid, self.category, self.value, self.uom, self.lower, self.upper))

    def number(self) -> float | None:
        return _number(self.value)

    def range(self) -> tuple[float, float] | None:
        """The reference range, when both bounds are numbers and the range is not empty."""
        low, high = _number(self.lower), _number(self.upper)
        if low is None or high is None or not low < high:
            return None
        return low, high

    def normal(self) -> bool | None:
        """Inside the reference range (bounds included); None when that cannot be told."""
        value, bounds = self.number(), self.range()
        if value is None or bounds is None:
            return None
        return bounds[0] <= value <= bounds[1]

    def with_value(self, value: float, *, bounds_precision: bool = False) -> LabRow:
        """The row with ``value``, written with the decimals the original value had (or, with ``bounds_precision``,
        as many as the value or its bounds have: the middle of 0.01-0.08 is no 0.0)."""
        texts = (self.value, self.lower, self.upper) if bounds_precision else (self.value,)
        decimals = max(len(t.split(".", 1)[1]) if "." in t else 0 for t in texts)
        return replace(self, value=f"{value:.{decimals}f}")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class LabBlock:
    """A case's lab field: the rows, between the build's fixed prefix and header."""

    rows: tuple[LabRow, ...]

    @classmethod
    def parse(cls, text: str) -> LabBlock:
        """Read a lab field the build wrote; anything else is a ValueError naming what differs."""
        head = LAB_PREFIX + LAB_HEADER + "\n"
        if not text.startswith(head):
            raise ValueError("the lab field does not start with the build's prefix and header")
        return cls(tuple(LabRow.parse(line) for line in text[len(head) :].splitlines() if line))

    def text(self) -> str:
        """As the build renders it."""
        return LAB_PREFIX + LAB_HEADER + "\n" + "".join(row.line() + "\n" for row in self.rows)

    def markdown(self) -> str:
        """The same rows as a Markdown table."""
        columns = LAB_HEADER.split(",")
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row.line().rsplit(",", 6)) + " |" for row in self.rows]
        return LAB_PREFIX + "\n".join(lines) + "\n"

    def sentences(self) -> str:
        """The same rows in plain sentences."""
        out = []
        for row in self.rows:
            unit = f" {row.uom}" if row.uom and row.uom != "nan" else ""
            bounds = f" (reference range {row.lower} to {row.upper})" if row.range() else ""
            out.append(f"{row.name} ({row.fluid}, {row.category}) was {row.value}{unit}{bounds}.")
        return LAB_PREFIX + "\n".join(out) + "\n"


def lab_block(case: Case) -> LabBlock | None:
    """A case's lab rows, or None for a case without a lab field."""
    return LabBlock.parse(case.input_dict.lab) if case.input_dict.lab else None
