"""engine.model.layout: index families and declared quantities, and that indexing with a
family's attribute compiles to the same machine code as a literal index."""

import re

import numba as nb
import numpy as np
import pytest

from engine.model.layout import Quantities, index_family


def test_an_index_family_numbers_its_names_in_order():
    fam = index_family("Example", ("a", "b", "lambda", "c"))
    assert tuple(fam) == (0, 1, 2, 3) and fam.b == 1
    assert fam._fields == ("a", "b", "lambda_", "c")  # a keyword gets an underscore
    with pytest.raises(ValueError, match="duplicate"):
        index_family("Twice", ("a", "a"))


def test_quantities_give_names_units_attributes_and_a_table():
    q = Quantities("Example", (("tir", "%", "time in range"), ("lbgi", "1", "low risk")))
    assert len(q) == 2 and q.names == ("tir", "lbgi") and q.index.lbgi == 1
    assert q.attrs("tir") == {"units": "%", "long_name": "time in range"}
    assert q.markdown().splitlines()[2] == "| `tir` | % | time in range |"
    assert [r.name for r in q] == ["tir", "lbgi"]


def test_the_engines_declarations_agree_with_their_families():
    from engine.model import glycaemia, params, slow, traits
    from engine.sim import outputs

    for decl, family in (
        (glycaemia.DAILY, glycaemia.D),
        (traits.TRAITS, traits.T),
        (params.STATES, params.X),
        (outputs.TRACES, outputs.TRACE),
    ):
        assert family._fields == decl.names and tuple(family) == tuple(range(len(decl)))
    assert params.P._fields == params.PARAM_NAMES
    assert slow.K._fields == slow.MECHANISM_NAMES


FAM = index_family("Fam", ("a", "b", "c"))


@nb.njit
def _by_family(x):
    return x[FAM.b] * 2.0 + x[FAM.c]


@nb.njit
def _by_literal(x):
    return x[1] * 2.0 + x[2]


def _instructions(f) -> list[str]:
    asm = f.inspect_asm(f.signatures[0])
    lines = [ln.strip() for ln in asm.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith((".", "#"))]
    return [re.sub(r"_by_family|_by_literal|_ZN\w+", "FN", ln) for ln in lines]


def test_a_family_attribute_compiles_like_a_literal_index():
    x = np.arange(3.0)
    assert _by_family(x) == _by_literal(x) == 4.0
    assert _instructions(_by_family) == _instructions(_by_literal)
