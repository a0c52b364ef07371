"""store/integrity.py without a run: how findings are reported, and which errors met while
reading a store are named as damage."""

import pytest

from engine.store import integrity
from engine.store.integrity import StoreDamaged


def test_many_findings_are_grouped_and_capped():
    many = [
        integrity.Finding(
            "tir",
            "missing",
            "not in the store",
            f"tir/c/{s}/{b}/0",
            s,
            f"name{s}",
            (8 * b, 8 * b + 7),
            None,
            ((s, b),),
        )
        for s in range(3)
        for b in range(40)
    ]
    many += [
        integrity.Finding(
            f"var{k}",
            "checksum",
            "stored and computed checksums differ",
            f"var{k}/c/0",
            None,
            None,
            (0, 7),
            None,
            ((0, 0),),
        )
        for k in range(80)
    ]
    report = integrity.VerifyReport("s.zarr", findings=many, tasks_complete=120)
    lines = integrity.format_report(report).splitlines()
    assert len(lines) <= integrity.MAX_LINES + 3
    assert lines[0].startswith("tir: missing: scenario 0 (name0), patients 0-319: 40 objects")
    assert any(ln.startswith("... and ") and "more" in ln for ln in lines)
    assert "3 checksum" not in lines[-2] and "80 checksum, 120 missing" in lines[-2]


def test_reading_store_names_only_damage():
    with pytest.raises(KeyError):
        with integrity.reading_store("s.zarr"):
            raise KeyError("tir")
    with pytest.raises(ValueError, match="^day 99"):
        with integrity.reading_store("s.zarr"):
            raise ValueError("day 99 is past the end")
    assert integrity.checksum_message(ValueError("no such scenario"), "s.zarr") is None
    err = ValueError("Stored and computed checksum do not match. Stored: b'1'. Computed: b'2'.")
    with pytest.raises(StoreDamaged, match="s.zarr: a chunk fails its checksum") as caught:
        with integrity.reading_store("s.zarr"):
            try:
                raise err
            except ValueError as inner:
                raise RuntimeError("while computing") from inner  # as dask may chain it
    assert "t1dmc verify s.zarr" in str(caught.value)
    assert "--resume --repair" in str(caught.value)
