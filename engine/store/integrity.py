"""Integrity of a results store: find damaged and missing storage objects, and say which tasks
recomputing them needs (README, "The results"; docs/data-safety.md, "Integrity").

Every chunk, and every shard's index, carries a CRC-32C (results.codecs and zarr's sharding
codec), so zarr raises `ValueError: Stored and computed checksum do not match` when damaged
bytes are read. What a checksum cannot see is a storage object that is not there at all (zarr
reads it as the fill value) or an empty file (a shard of zero bytes reads as fill values too):
those are found by listing the store against the tasks marked complete in `completed`.

API
---
verify_store(path, progress=None) -> VerifyReport
    Read every storage object of every node the engine created (`t1dmc_nodes`), check every
    node's metadata loads, and list the objects missing from the tasks marked complete.
    Raises NotAStore (a ValueError) when `path` is not a readable t1dmc store. `t1dmc verify`.
format_report(report) -> str
    The findings, one line each (grouped when many), then a summary line.
damaged_tasks(path, layout) -> np.ndarray
    (n_scenarios, n_blocks) bool: the tasks whose region holds a damaged or missing object,
    for `t1dmc run --resume --repair`. Raises StoreDamaged when the damage cannot be repaired
    by recomputing tasks (metadata, or a coordinate written when the store was created).
prepare_repair(path, layout) -> np.ndarray
    damaged_tasks, then marks those tasks incomplete and discards their damaged objects: what
    `t1dmc run --resume --repair` calls before it reads `completed` (which may be damaged).
discard_damaged(path, layout, tasks) -> int
    Remove the damaged objects of `tasks` (after damaged_tasks, before recomputing them): zarr
    reads a shard that a write covers only in part (the last, shorter block of patients) before
    rewriting it, and a damaged one fails that read; the recomputation rewrites them whole.
check_store_readable(path)
    For readers (compare, report, inspect), before reading: cheap (lists files, decodes
    nothing but `completed`). Raises StoreDamaged ("... run `t1dmc verify STORE` ...") when a
    task marked complete lacks an object or has an empty one; returns quietly when `path` is
    not a t1dmc store at all (the reader names that itself).
reading_store(path)
    A context manager for readers: zarr's checksum error (and the decode errors of a damaged
    chunk) raised anywhere inside becomes StoreDamaged with a message naming the store and the
    commands that list and repair the damage. Use it around everything that reads values:

        from engine.store.integrity import StoreDamaged, check_store_readable, reading_store
        check_store_readable(store)
        with reading_store(store):
            ds = xr.open_zarr(store)
            table = compare(ds, ...)          # any .values / .compute() inside
        # the CLI catches StoreDamaged (a ValueError): its message, exit 1 (a damaged store)

checksum_message(err, path) -> str | None
    The StoreDamaged message for `err` when it (or its cause) is chunk damage, else None.

Which objects a complete task must have. With zarr's default (`write_empty_chunks` off) a chunk
or shard whose values all equal the fill value is not written, so some absences are legitimate:
`status` (fill 0: every patient ok), and the daily values, log_phi and traces of patients who
all stopped on day 0 (NaN throughout). Those are not reported as
missing. A store whose group attribute `all_chunks_written` is true (written with
`write_empty_chunks` on) must have every object of every complete task.
"""

import json
import os
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

KINDS = ("metadata", "checksum", "unreadable", "missing")
ALL_CHUNKS_WRITTEN_ATTR = "all_chunks_written"
MAX_LINES = 50
# absent when every value of the region equals the fill value, which a complete task may write
MAY_BE_FILL = ("status", "ir_share")  # ir_share: stores of 0.3 and earlier (NaN: nothing acts)
LEGACY_TASK_WRITTEN = ("ir_share",)  # written by the tasks of 0.3 and earlier, now log_phi
_DAMAGE_PATTERN = re.compile(
    r"checksum|decompress|zstd|shard index|unexpected end|truncat", re.IGNORECASE
)


class StoreDamaged(ValueError):
    """A store holds damaged or missing data."""


class NotAStore(ValueError):
    """The path is not a readable t1dmc store."""


@dataclass(frozen=True)
class Finding:
    variable: str
    kind: str  # one of KINDS
    detail: str
    key: str | None = None  # storage key, relative to the store
    scenario: int | None = None
    scenario_name: str | None = None
    patients: tuple[int, int] | None = None  # first and last patient id, inclusive
    traced_patient: int | None = None
    tasks: tuple = ()  # (scenario, block) tasks that rewrite it
    task_complete: bool = True

    def where(self) -> str:
        parts = []
        if self.scenario is not None:
            parts.append(
                f"scenario {self.scenario}"
                + (f" ({self.scenario_name})" if self.scenario_name else "")
            )
        if self.traced_patient is not None:
            parts.append(f"traced patient {self.traced_patient}")
        elif self.patients is not None:
            a, b = self.patients
            parts.append(f"patients {a}-{b}" if b != a else f"patient {a}")
        return ", ".join(parts)

    def describe(self) -> str:
        where = self.where()
        key = f" [{self.key}]" if self.key else ""
        note = (
            ""
            if self.task_complete or not self.tasks
            else " (its task is not complete: --resume --repair recomputes it)"
        )
        return (
            f"{self.variable}: {self.kind}{': ' + where if where else ''}{key}: {self.detail}{note}"
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patients"] = list(self.patients) if self.patients else None
        d["tasks"] = [list(t) for t in self.tasks]
        return d


@dataclass
class VerifyReport:
    path: str
    findings: list = field(default_factory=list)
    objects_read: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    tasks_complete: int = 0
    tasks_incomplete: int = 0
    n_scenarios: int = 0
    n_blocks: int = 0
    block_size: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def count(self, kind: str) -> int:
        return sum(f.kind == kind for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "store": self.path,
            "ok": self.ok,
            "counts": {k: self.count(k) for k in KINDS},
            "objects_read": self.objects_read,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "tasks_complete": self.tasks_complete,
            "tasks_incomplete": self.tasks_incomplete,
            "n_scenarios": self.n_scenarios,
            "n_blocks": self.n_blocks,
            "block_size": self.block_size,
            "findings": [f.to_dict() for f in self.findings],
        }


# ---------------------------------------------------------------------------------------------
# the store as the engine made it


def _first_line(err: BaseException, limit: int = 160) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, ValueError) and "checksum do not match" in text:
        text = "stored and computed checksums differ"  # the bytes themselves say nothing
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quiet():
    from .results import quiet_zarr

    return quiet_zarr()


class _Store:
    """A t1dmc store opened for checking: its nodes, sizes, and who writes what."""

    def __init__(self, path):
        import zarr

        self.path = Path(path)
        shown = str(path)
        if not self.path.exists():
            raise NotAStore(f"{shown!r}: no such file or folder")
        if not self.path.is_dir():
            raise NotAStore(f"{shown!r} is a file, not a zarr store (a folder)")
        if not (self.path / "zarr.json").is_file():
            raise NotAStore(f"{shown!r} is not a zarr v3 store (no zarr.json)")
        try:
            with _quiet():
                self.group = zarr.open_group(shown, mode="r", use_consolidated=False)
                attrs = dict(self.group.attrs)
        except Exception as err:  # noqa: BLE001 - unreadable for whatever reason
            raise NotAStore(
                f"{shown!r}: its root metadata (zarr.json) cannot be read "
                f"({_first_line(err)}): not a zarr store, or damaged"
            ) from None
        if attrs.get("engine") != "t1dmc" and "config_toml" not in attrs:
            raise NotAStore(
                f"{shown!r} is a zarr store but not a t1dmc results store (no engine attribute)"
            )
        self.attrs = attrs
        self.root = Path(getattr(self.group.store, "root", self.path))
        from . import results

        self.task_written = (
            set(results.TASK_WRITTEN_VARIABLES)
            | set(LEGACY_TASK_WRITTEN)
            | {v[0] for v in results.patient_variables()}
        )
        self.patient_vars = {v[0] for v in results.patient_variables()}
        self.scenario_flags = set(results.SCENARIO_FLAGS)  # every scenario's task writes them
        nodes = attrs.get("t1dmc_nodes")
        if not nodes:
            with _quiet():
                nodes = sorted(set(self.group.array_keys()) | set(results.TASK_WRITTEN_VARIABLES))
        self.nodes = sorted(map(str, nodes))
        self.block_size = int(attrs.get("block_size") or 0)
        self.cohort_by_scenario = bool(int(attrs.get("cohort_by_scenario", 0) or 0))
        self.all_written = bool(attrs.get(ALL_CHUNKS_WRITTEN_ATTR, False))
        self.arrays = {}
        self.meta_errors = {}
        for name in self.nodes:
            try:
                with _quiet():
                    arr = self.group[name]
                if not hasattr(arr, "shape"):
                    raise TypeError("a group where the engine wrote an array")
                self.arrays[name] = arr
            except Exception as err:  # noqa: BLE001 - missing or damaged metadata alike
                meta = self.root / name / "zarr.json"
                self.meta_errors[name] = (
                    "metadata missing (zarr.json not found)"
                    if not meta.exists()
                    else f"metadata cannot be read ({_first_line(err)})"
                )
        self.n_scenarios, self.n_patients = self._sizes()
        if self.block_size <= 0:
            self.block_size = max(self.n_patients, 1)
        self.n_blocks = -(-self.n_patients // self.block_size) if self.n_patients else 0
        self.scenario_names = self._coordinate("scenario_name", self.n_scenarios)
        self.traced = self._coordinate("traced", None)

    def _sizes(self) -> tuple[int, int]:
        for name, dims in (
            ("completed", ("scenario", "patient")),
            ("tir", ("scenario", "patient")),
            ("scenario", ("scenario",)),
            ("patient", ("patient",)),
        ):
            if name in self.arrays:
                shape = dict(zip(dims, self.arrays[name].shape))
                if "scenario" in shape and "patient" in shape:
                    return shape["scenario"], shape["patient"]
        s = self.arrays["scenario"].shape[0] if "scenario" in self.arrays else 1
        n = self.arrays["patient"].shape[0] if "patient" in self.arrays else 0
        return s, n

    def _coordinate(self, name, size):
        try:
            values = self.arrays[name][...]
            return [v.item() if hasattr(v, "item") else v for v in values]
        except Exception:  # noqa: BLE001 - damaged: verify reports it when reading it
            return [None] * size if size is not None else None

    def block(self, b: int) -> slice:
        return slice(b * self.block_size, min((b + 1) * self.block_size, self.n_patients))

    def dims(self, name: str) -> tuple:
        arr = self.arrays[name]
        return tuple(arr.metadata.dimension_names or ()) or tuple(
            f"dim_{i}" for i in range(arr.ndim)
        )

    def grid(self, name: str) -> tuple:
        arr = self.arrays[name]
        return tuple(arr.shards or arr.chunks)

    def objects(self, name: str):
        """(coords, region) of every storage object of `name`."""
        arr = self.arrays[name]
        grid = self.grid(name)
        counts = [-(-n // c) if c else 0 for n, c in zip(arr.shape, grid)]
        for coords in product(*(range(k) for k in counts)):
            yield (
                coords,
                tuple(
                    slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(coords, grid, arr.shape)
                ),
            )

    def key(self, name: str, coords) -> str:
        arr = self.arrays[name]
        return f"{arr.path}/{arr.metadata.encode_chunk_key(tuple(coords))}"

    def listing(self, name: str) -> dict:
        """{key: size in bytes} of the objects of `name` present in the store."""
        arr = self.arrays[name]
        top = self.root / arr.path
        out = {}
        for folder, _, files in os.walk(top):
            rel = Path(folder).relative_to(self.root).as_posix()
            for f in files:
                if f == "zarr.json" and Path(folder) == top:
                    continue
                try:
                    out[f"{rel}/{f}"] = os.stat(os.path.join(folder, f)).st_size
                except OSError:
                    out[f"{rel}/{f}"] = -1
        return out

    def tasks_of(self, name: str, region) -> list:
        """The (scenario, block) tasks whose write covers `region` of `name`; [] when no task
        writes it (coordinates, written when the store was created)."""
        if name not in self.task_written:
            return []
        dims = self.dims(name)
        sel = dict(zip(dims, region))
        if "scenario" in sel:
            scenarios = range(sel["scenario"].start, sel["scenario"].stop)
        elif self.cohort_by_scenario:
            scenarios = range(self.n_scenarios)
        else:
            scenarios = range(min(1, self.n_scenarios))  # scenario 0's task writes them
        if "patient" in sel:
            p = sel["patient"]
            blocks = range(p.start // self.block_size, -(-p.stop // self.block_size))
        elif "traced" in sel and self.traced is not None:
            t = sel["traced"]
            blocks = sorted(
                {
                    int(pid) // self.block_size
                    for pid in self.traced[t.start : t.stop]
                    if pid is not None
                }
            )
        else:
            blocks = range(self.n_blocks)
        return [(s, b) for s in scenarios for b in blocks]

    def finding(
        self, name: str, kind: str, detail: str, region=None, key=None, done=None
    ) -> Finding:
        scenario = scenario_name = patients = traced = None
        tasks = ()
        if region is not None and name in self.arrays:
            sel = dict(zip(self.dims(name), region))
            if "scenario" in sel and sel["scenario"].stop - sel["scenario"].start == 1:
                scenario = sel["scenario"].start
            if "patient" in sel:
                patients = (sel["patient"].start, sel["patient"].stop - 1)
            if "traced" in sel and self.traced is not None:
                ids = self.traced[sel["traced"].start : sel["traced"].stop]
                if len(ids) == 1 and ids[0] is not None:
                    traced = int(ids[0])
            tasks = tuple(self.tasks_of(name, region))
            if scenario is not None and scenario < len(self.scenario_names):
                scenario_name = self.scenario_names[scenario]
                scenario_name = None if scenario_name is None else str(scenario_name)
        complete = True
        if done is not None and tasks:
            complete = all(done[s, b] for s, b in tasks)
        return Finding(
            name, kind, detail, key, scenario, scenario_name, patients, traced, tasks, complete
        )


def _stopped_on_day_0(store: _Store, scenario: int, patients) -> bool:
    """Whether every patient in `patients` stopped on day 0 (status 1): then their daily
    values and traces are all NaN, the fill value, and zarr writes no object for them."""
    try:
        status = store.arrays["status"][scenario, patients, 0]
    except Exception:  # noqa: BLE001 - status itself unreadable: the object counts as missing
        return False
    return bool(np.size(status)) and bool(np.all(np.asarray(status) == 1))


# coordinates whose values are their index times a positive step: only index 0 equals the
# fill value (0), so any other absent object is missing
_INDEX_COORDINATES = ("scenario", "patient", "day", "time")


def _coordinate_expected(store: _Store, name: str, region) -> bool:
    """Whether a coordinate's absent object is missing (written when the store was created)
    rather than all fill values, which zarr does not write: text coordinates are never empty
    strings, index coordinates are 0 only at index 0; other numbers cannot be told apart."""
    arr = store.arrays[name]
    if arr.dtype.kind in "OUT" or str(arr.dtype).startswith("<U") or "str" in str(arr.dtype):
        return True
    if name in _INDEX_COORDINATES:
        return any(r.stop > 1 for r in region)
    return False


def _expected(store: _Store, name: str, region, done: np.ndarray) -> bool:
    """Whether a complete task must have written the object of `name` at `region`: only
    asked about objects that are absent (decodes `status` only then)."""
    if name not in store.task_written:
        return _coordinate_expected(store, name, region)
    tasks = store.tasks_of(name, region)
    if not tasks:
        return False
    if (
        name in store.patient_vars
        and name not in store.scenario_flags
        and not store.cohort_by_scenario
    ):
        writers = [(s, b) for s, b in tasks if s == 0]
    else:
        writers = tasks
    if not writers or not all(done[s, b] for s, b in writers):
        return False
    if store.all_written:
        return True
    if name in MAY_BE_FILL:
        return False
    if name == "completed" or name in store.patient_vars:
        return True
    sel = dict(zip(store.dims(name), region))
    s = sel["scenario"].start if "scenario" in sel else 0
    if "patient" in sel:
        patients = sel["patient"]
    elif "traced" in sel and store.traced is not None:
        ids = [
            int(p) for p in store.traced[sel["traced"].start : sel["traced"].stop] if p is not None
        ]
        patients = ids
    else:
        return True
    return not _stopped_on_day_0(store, s, patients)


def _read_completed(store: _Store):
    """(n_scenarios, n_blocks) bool of tasks marked complete; a damaged or unreadable
    `completed` object counts its tasks as not complete (and is a finding)."""
    done = np.zeros((store.n_scenarios, store.n_blocks), dtype=bool)
    findings = []
    if "completed" not in store.arrays:
        return done, findings
    arr = store.arrays["completed"]
    flags = np.zeros(arr.shape, dtype=bool)
    readable = np.ones(arr.shape, dtype=bool)
    for coords, region in store.objects("completed"):
        key = store.key("completed", coords)
        try:
            values = arr[region]
            flags[region] = np.asarray(values) == 1
        except Exception as err:  # noqa: BLE001 - reported; the tasks count as not complete
            readable[region] = False
            findings.append(store.finding("completed", _kind(err), _first_line(err), region, key))
    for b in range(store.n_blocks):
        sl = store.block(b)
        done[:, b] = flags[:, sl].all(axis=1) & readable[:, sl].all(axis=1)
    return done, findings


def _kind(err: BaseException) -> str:
    return "checksum" if "checksum" in str(err).lower() else "unreadable"


def _order(name: str) -> tuple:
    # `completed` first (it decides which tasks must be whole), then the rest by name
    return (name != "completed", name)


def verify_store(path, progress=None) -> VerifyReport:
    """Check every node of the store at `path`: its metadata loads, every storage object it
    holds decodes (checksums of the shard index and of every chunk), and every object of every
    task marked complete is there and not empty. `progress(done, total)` is called after each
    object. Raises NotAStore when `path` is not a readable t1dmc store."""
    t0 = time.perf_counter()
    store = _Store(path)
    report = VerifyReport(
        str(path),
        n_scenarios=store.n_scenarios,
        n_blocks=store.n_blocks,
        block_size=store.block_size,
    )
    for name, detail in sorted(store.meta_errors.items()):
        report.findings.append(
            Finding(name, "metadata", detail, f"{name}/zarr.json", tasks=(), task_complete=True)
        )
    names = sorted(store.arrays, key=_order)
    # `completed` before the listing: a task that completes meanwhile then counts as not
    # complete, never as complete with its objects unlisted
    done, completed_findings = _read_completed(store)
    listings = {name: store.listing(name) for name in names}
    total = sum(1 for name in names for _ in store.objects(name))
    seen = 0
    damaged_completed = {f.key for f in completed_findings}
    report.findings.extend(completed_findings)
    for name in names:
        arr = store.arrays[name]
        present = listings[name]
        for coords, region in store.objects(name):
            seen += 1
            key = store.key(name, coords)
            size = present.get(key)
            if size is None:
                if _expected(store, name, region, done):
                    why = (
                        "not in the store, but its task is marked complete"
                        if name in store.task_written
                        else "not in the store (written when the store was created)"
                    )
                    report.findings.append(store.finding(name, "missing", why, region, key, done))
            else:
                report.objects_read += 1
                report.bytes_read += max(size, 0)
                if size == 0:
                    report.findings.append(
                        store.finding(name, "unreadable", "empty file (0 bytes)", region, key, done)
                    )
                elif key not in damaged_completed:
                    try:
                        with _quiet():
                            arr[region]
                    except Exception as err:  # noqa: BLE001 - every decode failure is damage
                        report.findings.append(
                            store.finding(name, _kind(err), _first_line(err), region, key, done)
                        )
            if progress is not None:
                progress(seen, total)
    report.tasks_complete = int(done.sum())
    report.tasks_incomplete = int(done.size - done.sum())
    report.findings.sort(
        key=lambda f: (
            KINDS.index(f.kind),
            _order(f.variable),
            f.scenario if f.scenario is not None else -1,
            f.patients or (-1, -1),
            f.key or "",
        )
    )
    report.seconds = time.perf_counter() - t0
    return report


# ---------------------------------------------------------------------------------------------
# what to recompute


def _unrepairable(report: VerifyReport) -> list:
    return [f for f in report.findings if f.kind == "metadata" or not f.tasks]


def damaged_tasks(path, layout, report: VerifyReport | None = None) -> np.ndarray:
    """(layout.n_scenarios, layout.n_blocks) bool: the tasks whose region holds a damaged or
    missing object (a per-patient object shared by the scenarios maps to scenario 0's task,
    which writes it; a trace to the task of its patient's block). Raises StoreDamaged when the
    damage cannot be repaired by recomputing tasks (metadata, coordinates)."""
    report = report if report is not None else verify_store(path)
    store_shape = (report.n_scenarios, report.n_blocks)
    if (
        store_shape != (layout.n_scenarios, layout.n_blocks)
        or report.block_size != layout.block_size
    ):
        raise StoreDamaged(
            f"{str(path)!r} has {report.n_scenarios} scenario(s) x "
            f"{report.n_blocks} block(s) of {report.block_size} patients; the "
            f"run has {layout.n_scenarios} x {layout.n_blocks} of "
            f"{layout.block_size}: not the store of this config"
        )
    bad = _unrepairable(report)
    if bad:
        names = sorted({f.variable for f in bad})
        raise StoreDamaged(
            f"{str(path)!r}: the {', '.join(names)} "
            f"{'metadata or coordinates are' if len(names) > 1 else 'metadata or coordinate is'}"
            " damaged or missing, written when the store was created: recomputing tasks cannot "
            "repair it; recreate the store with `t1dmc run CONFIG -o STORE --overwrite` "
            "(`t1dmc verify STORE` lists the damage)"
        )
    out = np.zeros((layout.n_scenarios, layout.n_blocks), dtype=bool)
    for f in report.findings:
        for s, b in f.tasks:
            out[s, b] = True
    return out


def discard_damaged(path, layout, tasks: np.ndarray, report: VerifyReport | None = None) -> int:
    """Remove the damaged (not merely missing) objects that lie in the regions of `tasks`, so
    their recomputation writes them anew instead of reading them first (zarr reads a shard
    that a write covers only in part, as the last, shorter block's is, and a damaged one fails
    that read). Call after damaged_tasks and before the tasks are recomputed (marked
    incomplete first: a task whose object is gone is then recomputed by --resume, as it
    would be anyway). Returns the number of objects removed."""
    report = report if report is not None else verify_store(path)
    root = Path(path)
    removed = 0
    for f in report.findings:
        if (
            f.kind in ("checksum", "unreadable")
            and f.key
            and f.tasks
            and any(tasks[s, b] for s, b in f.tasks)
        ):
            target = root / f.key
            if _plain_file_inside(root, target):
                target.unlink()
                removed += 1
    return removed


def _plain_file_inside(root: Path, target: Path) -> bool:
    """A regular file reached from the store's root through no link: a chunk the engine
    wrote, never something a linked folder leads to."""
    p = target
    while p != root:
        if p.is_symlink():
            return False
        p = p.parent
        if p == p.parent:
            return False
    return target.is_file()


def prepare_repair(path, layout) -> np.ndarray:
    """Everything `t1dmc run --resume --repair` does before computing: find the damaged tasks
    (damaged_tasks; StoreDamaged when tasks cannot repair the damage), mark them incomplete
    (results.mark_incomplete: a `completed` chunk that fails its checksum is rewritten whole)
    and then remove their damaged objects (discard_damaged), so that `completed` reads and the
    recomputation writes. Returns the tasks, (n_scenarios, n_blocks) bool. Interrupted at
    any point, a later --resume --repair finds what is left."""
    from .results import mark_incomplete

    report = verify_store(path)
    tasks = damaged_tasks(path, layout, report)
    if tasks.any():
        mark_incomplete(Path(path), layout, tasks)
        discard_damaged(path, layout, tasks, report)
    return tasks


# ---------------------------------------------------------------------------------------------
# for readers


def _repair_hint(path) -> str:
    return (
        f"run `t1dmc verify {path}` to list the damage and `t1dmc run CONFIG -o {path} "
        "--resume --repair` to recompute it"
    )


def check_store_readable(path) -> None:
    """Cheap check before reading a store (lists files; decodes only `completed`): raises
    StoreDamaged when a task marked complete lacks a storage object, or has an empty one
    (both read silently as fill values), or when `completed` itself fails its checksum.
    Returns quietly when `path` is not a readable t1dmc store (the reader's own checks name
    what is there). Damage inside objects is found when they are read: wrap the reading in
    `reading_store(path)`."""
    try:
        store = _Store(path)
    except NotAStore:
        return  # the reader's own checks name what is there
    _raise_metadata_errors(store)
    done, completed_findings = _read_completed(store)
    listings = {name: store.listing(name) for name in store.arrays}
    problems = [f"completed {f.where()}" for f in completed_findings]
    for name in sorted(store.arrays, key=_order):
        present = listings[name]
        for coords, region in store.objects(name):
            key = store.key(name, coords)
            size = present.get(key)
            if size == 0 or (size is None and _expected(store, name, region, done)):
                f = store.finding(name, "missing", "", region, key, done)
                problems.append(
                    f"{name} {f.where()}".strip() + (" (empty file)" if size == 0 else "")
                )
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise StoreDamaged(
            f"{path}: {len(problems)} storage object(s) of completed tasks are "
            f"missing, empty or damaged ({shown}): the store is damaged; " + _repair_hint(path)
        )


def check_metadata_readable(path, missing_ok: bool = False) -> None:
    """StoreDamaged naming each array of the engine's whose metadata (NAME/zarr.json) is
    unreadable, or missing unless `missing_ok`; quiet when `path` is not a readable t1dmc
    store. Readers that use the root's consolidated metadata would not notice, and zarr's own
    error on unreadable metadata names no file."""
    try:
        store = _Store(path)
    except NotAStore:
        return
    _raise_metadata_errors(store, missing_ok)


def _raise_metadata_errors(store: "_Store", missing_ok: bool = False) -> None:
    errors = {
        name: why
        for name, why in store.meta_errors.items()
        if not (missing_ok and why.startswith("metadata missing"))
    }
    if errors:
        shown = "; ".join(
            f"{name}: {why} [{name}/zarr.json]" for name, why in sorted(errors.items())
        )
        raise StoreDamaged(
            f"{store.path}: the metadata of {len(errors)} array(s) cannot be read "
            f"({shown}): the store is damaged and --resume --repair cannot mend metadata; "
            "recreate the store: t1dmc run CONFIG -o STORE --overwrite"
        )


def _damage_error(err: BaseException | None) -> BaseException | None:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, StoreDamaged):
            return None
        if isinstance(
            err, (ValueError, RuntimeError, IndexError, EOFError)
        ) and _DAMAGE_PATTERN.search(str(err)):
            return err
        err = err.__cause__ or err.__context__
    return None


def checksum_message(err: BaseException, path) -> str | None:
    """The StoreDamaged message for `err` when it, or what caused it, is the decode failure of
    a damaged chunk (checksum mismatch, corrupt compressed data); None otherwise."""
    damage = _damage_error(err)
    if damage is None:
        return None
    return f"{path}: a chunk fails its checksum (damaged): {_first_line(damage)}; " + _repair_hint(
        path
    )


@contextmanager
def reading_store(path):
    """Turn the decode failure of a damaged chunk raised inside into StoreDamaged, naming the
    store and the commands that list and repair the damage; other errors pass unchanged."""
    try:
        yield
    except StoreDamaged:
        raise
    except Exception as err:
        message = checksum_message(err, path)
        if message is None:
            raise
        raise StoreDamaged(message) from err


# ---------------------------------------------------------------------------------------------
# the report


def _merge(findings: list) -> list[str]:
    """Group findings of one kind, variable and scenario into one line with patient ranges."""
    groups: dict = {}
    for f in findings:
        groups.setdefault((f.kind, f.variable, f.scenario, f.scenario_name), []).append(f)
    lines = []
    for (kind, var, s, sname), fs in groups.items():
        if len(fs) == 1:
            lines.append(fs[0].describe())
            continue
        ranges = sorted(f.patients for f in fs if f.patients and f.traced_patient is None)
        traced = sorted(f.traced_patient for f in fs if f.traced_patient is not None)
        parts = []
        if ranges:
            merged = [list(ranges[0])]
            for a, b in ranges[1:]:
                if a <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            parts.append(
                "patients "
                + ", ".join(f"{a}-{b}" for a, b in merged[:8])
                + (" ..." if len(merged) > 8 else "")
            )
        if traced:
            parts.append(
                "traced patients "
                + ", ".join(map(str, traced[:8]))
                + (" ..." if len(traced) > 8 else "")
            )
        where = f"scenario {s}" + (f" ({sname})" if sname else "") + ", " if s is not None else ""
        details = sorted({f.detail for f in fs})
        lines.append(
            f"{var}: {kind}: {where}{'; '.join(parts)}: {len(fs)} objects: "
            f"{details[0]}" + (" (and other errors)" if len(details) > 1 else "")
        )
    return lines


def format_report(report: VerifyReport) -> str:
    """One line per finding (grouped by variable and scenario when there are more than
    MAX_LINES), then a summary line and what to do."""
    lines = [f.describe() for f in report.findings]
    if len(lines) > MAX_LINES:
        lines = _merge(report.findings)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES] + [
            f"... and {len(lines) - MAX_LINES} more (--json lists every finding)"
        ]
    counts = ", ".join(f"{report.count(k)} {k}" for k in KINDS if report.count(k))
    mb = report.bytes_read / 1e6
    state = "damaged: " + counts if report.findings else "clean"
    lines.append(
        f"{report.path}: {state}; {report.objects_read:,} objects read "
        f"({mb:,.1f} MB in {report.seconds:.1f} s); tasks {report.tasks_complete} "
        f"complete, {report.tasks_incomplete} incomplete"
    )
    if any(f.kind == "metadata" or not f.tasks for f in report.findings):
        lines.append(
            "metadata or coordinates are damaged: recomputing tasks cannot repair "
            "them; recreate the store: t1dmc run CONFIG -o STORE --overwrite"
        )
    elif report.findings:
        lines.append(
            f"repair: t1dmc run CONFIG -o {report.path} --resume --repair "
            "(recomputes the tasks holding damaged or missing objects)"
        )
    elif report.tasks_incomplete:
        lines.append(f"incomplete: finish with t1dmc run CONFIG -o {report.path} --resume")
    return "\n".join(lines)


def report_json(report: VerifyReport) -> str:
    return json.dumps(report.to_dict(), indent=2)
