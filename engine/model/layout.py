"""Declarations of per-patient quantities, and the index families derived from them.

A kernel array's columns are declared once, as an ordered tuple of names, or of (name, units,
description) for what reaches the results. Everything else is derived from that declaration:
the index of each column, the count, the results' variable names and CF attributes, and the
docs' tables. Kernels index with the family's attributes, `lf[j, F.bg]`, `p[P.Vmx]`: an index
family is a namedtuple of ints, which numba freezes as a compile-time constant, so
`F.bg` compiles to the same machine code as a module-level `F.bg = 32` (checked:
tests/unit/model/test_layout.py, and bit-identical outputs in benchmarks/compare_revisions.py).

Adding a column is one line in its declaration; nothing is numbered or counted by hand.
"""

from __future__ import annotations

import collections
import keyword
from typing import NamedTuple


def index_family(typename: str, names) -> tuple:
    """A namedtuple instance whose fields are `names` and whose values are 0, 1, ...: the
    column index of each name. A name that is a Python keyword gets a trailing underscore."""
    fields = [n + "_" if keyword.iskeyword(n) else n for n in names]
    if len(set(fields)) != len(fields):
        raise ValueError(f"{typename}: duplicate names in {fields}")
    return collections.namedtuple(typename, fields)(*range(len(fields)))


class Quantity(NamedTuple):
    """One declared per-patient quantity: its name in the results, units (UDUNITS) and
    description (the CF long_name)."""

    name: str
    units: str
    description: str


class Quantities:
    """An ordered declaration of quantities that reach the results: `.index` is their index
    family (attribute = name), `.names`, `.units`, `.descriptions` the columns, `attrs(name)`
    the CF attributes and `markdown()` the docs' table."""

    def __init__(self, typename: str, rows):
        self.rows = tuple(Quantity(*r) for r in rows)
        self.index = index_family(typename, (q.name for q in self.rows))
        self.names = tuple(q.name for q in self.rows)
        self.units = tuple(q.units for q in self.rows)
        self.descriptions = tuple(q.description for q in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def attrs(self, name: str) -> dict:
        q = self.rows[self.names.index(name)]
        return {"units": q.units, "long_name": q.description}

    def markdown(self) -> str:
        lines = ["| name | units | description |", "|---|---|---|"]
        lines += [f"| `{q.name}` | {q.units} | {q.description} |" for q in self.rows]
        return "\n".join(lines)
