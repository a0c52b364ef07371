"""Scenario comparison: per scenario, the difference from a baseline scenario in the key
outcomes, with 95% intervals.

With common random numbers every patient lives the same life in every scenario, so the
difference is taken patient by patient (paired) and its variance is small. Without them the
scenarios hold different patients and the difference of means is unpaired.
Intervals are Student's t (mean +- t SE; Welch's df when unpaired): a pilot run of 20
patients gets intervals 7% wider than the normal approximation's, a population run the same
(t tends to 1.96). Only the patients whose results are written (`completed`) are used;
`n_patients` says how many each difference rests on.
"""

import os
from pathlib import Path

import numpy as np
import xarray as xr

from .stats import t975

ENGINE_TAG = "t1dmc"
# what a results store has that `compare` and `report` read
STORE_NEEDS = ("scenario_name", "completed")

# outcome, label, units (those present in the store are compared)
OUTCOMES = (
    ("tir", "TIR 70-180", "%"),
    ("hba1c", "HbA1c", "%"),
    ("tdd_per_kg", "TDD per kg", "U/kg/day"),
    ("weight_kg", "weight", "kg"),
    ("si_peripheral", "peripheral sensitivity", "1"),
    ("glucose_mean", "mean glucose", "mg/dL"),
    ("tbr70", "TBR <70", "%"),
    ("mean_insulin", "plasma insulin", "pmol/L"),
    ("receptor_density", "receptor density", "1"),
    ("closed_loop_pct", "time in closed loop", "%"),
)
# then, where the store has log_phi, the sensitivity each mechanism takes: -100 x its mean log
# factor, in log points (~% for small values); they add up to -100 x log s_p, so the rows of
# the mechanisms add up to the change in log sensitivity (engine.analysis.attribution)
LOST_PREFIX = "lost_to_"
LOG_POINTS = "log-% of s_p"


def _baseline_index(ds: xr.Dataset, baseline) -> int:
    """The scenario `baseline` names: an index, a whole scenario name, or the swept values
    alone: `conventional`, `kind=conventional` or `therapy.kind=conventional` for the
    scenario named `kind=conventional` (several, comma-separated: `conventional, none` or
    `therapy.kind=conventional, sensor.kind=none`). A value that fits more than one scenario
    is refused, naming the candidates."""

    def swept_values() -> list[dict]:
        # per scenario {swept field's dotted path: value}: the store's coordinates on
        # `scenario` (one per swept field), else parsed from the names (`field=value, ...`)
        swept = [
            c
            for c in ds.coords
            if ds[c].dims == ("scenario",)
            and str(ds[c].attrs.get("long_name", "")).startswith("swept config field")
        ]
        if swept:
            columns = {c: ds[c].values.tolist() for c in swept}  # Python values
            return [{c: v[k] for c, v in columns.items()} for k in range(len(names))]
        out = []
        for name in names:
            pairs = (part.partition("=") for part in name.split(", "))
            out.append({key: value for key, sep, value in pairs if sep})
        return out

    def fits(values: dict, wanted: str) -> bool:
        # `value`, or `field=value` with the field's whole dotted path or its last part
        key, sep, text = wanted.partition("=")
        if not sep:
            key, text = None, wanted
        key, text = (key.strip() if key else None), text.strip().strip("'\"")
        for path, value in values.items():
            if key is not None and key not in (path, path.split(".")[-1]):
                continue
            if isinstance(value, (bool, np.bool_)):
                if text.lower() == str(bool(value)).lower():
                    return True
            elif isinstance(value, (int, float, np.number)):
                try:
                    if float(text) == float(value) or text == f"{value:.4g}":
                        return True
                except ValueError:
                    pass
            elif str(value) == text:
                return True
        return False

    names = [str(n) for n in ds["scenario_name"].values]
    if baseline is None:
        return 0
    if isinstance(baseline, str) and baseline in names:
        return names.index(baseline)
    text = str(baseline).strip()
    listing = ", ".join(f"{k}: {n}" for k, n in enumerate(names))
    try:
        i = int(text)
    except ValueError:
        i = None
    if i is not None:  # a whole number is an index, as documented
        if not 0 <= i < len(names):
            raise ValueError(
                f"--baseline {i}: scenario index out of range 0..{len(names) - 1} (a swept "
                f"value is given with its field, e.g. field={i}); scenarios are {listing}"
            )
        return i
    wanted = [part.strip() for part in text.split(",")]  # each must fit
    matches = [k for k, values in enumerate(swept_values()) if all(fits(values, w) for w in wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        candidates = ", ".join(f"{k}: {names[k]}" for k in matches)
        raise ValueError(
            f"--baseline {text!r} is ambiguous: it fits scenarios {candidates}; give the "
            "index or the whole name"
        )
    raise ValueError(f"--baseline {text!r}: no such scenario; scenarios are {listing}")


def require_store(path) -> None:
    """ValueError saying why when `path` holds no t1dmc results store (nothing there, not
    zarr, or a zarr store another program wrote); reads only the group's attributes."""
    from ..store.storeguard import read_attrs

    path = Path(path)
    if not path.exists():
        raise ValueError(f"{str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(
            f"{str(path)!r} is not a t1dmc results store: it is a file, not a zarr folder"
        )
    attrs = read_attrs(path)
    if attrs is None or attrs.get("engine") != ENGINE_TAG:
        why = (
            "no readable zarr.json"
            if attrs is None
            else f"its attributes lack engine = {ENGINE_TAG!r}"
        )
        raise ValueError(f"{str(path)!r} is not a t1dmc results store ({why})")
    nodes = attrs.get("t1dmc_nodes")  # what the engine created there
    lacking = [v for v in STORE_NEEDS if nodes is not None and v not in nodes]
    if lacking:
        raise ValueError(_lacking_message(path, lacking))


def _lacking_message(path, lacking) -> str:
    return (
        f"{str(path)!r} is not a t1dmc results store: it lacks {', '.join(lacking)} "
        "(another output of t1dmc, such as a replay or a comparison, or a store whose "
        "creation was interrupted)"
    )


def open_store(path) -> xr.Dataset:
    """A t1dmc results store opened for reading (lazily); ValueError saying why when the path
    holds none."""
    from ..store.results import quiet_zarr, with_ir_share

    require_store(path)
    path = Path(path)
    try:
        with quiet_zarr():  # an unfinished store has no consolidated metadata yet
            ds = with_ir_share(xr.open_zarr(path, decode_times=False))
    except Exception as err:  # noqa: BLE001 - whatever makes it unreadable, say so
        raise ValueError(f"cannot open {str(path)!r} as a results store: {err}") from None
    lacking = [v for v in STORE_NEEDS if v not in ds.variables]
    if lacking or "scenario" not in ds.dims:
        raise ValueError(_lacking_message(path, lacking or ["the scenario dimension"]))
    return ds


def refuse_output_in_store(out, store, what: str = "output") -> None:
    """UnsafeOutput when `out` is the store being read: an output there would replace the
    results. (A path inside any t1dmc store, storeguard.refuse_unsafe_target refuses.)"""
    from ..store.storeguard import UnsafeOutput

    out, store = Path(os.path.abspath(out)), Path(os.path.abspath(store))
    if out.parent.resolve() / out.name == store.resolve():  # the output is never followed
        raise UnsafeOutput(
            f"{what} {str(out)!r} is the store being read, {str(store)!r}: choose a path outside it"
        )


def completion(ds: xr.Dataset) -> tuple[int, int]:
    """(patient-scenarios written, patient-scenarios in the store)."""
    done = np.asarray(ds["completed"].values) != 0
    return int(done.sum()), int(done.size)


def incomplete_message(path, ds: xr.Dataset) -> str | None:
    """None when every patient-scenario of the store is written, else what to do."""
    from ..store.storeguard import writer_of

    done, total = completion(ds)
    if done == total:
        return None
    writer = writer_of(Path(path))
    if writer:
        return (
            f"{str(path)!r} is incomplete: {done:,} of {total:,} patient-scenarios written "
            f"so far; a run is writing it now ({writer}): wait for it to finish"
        )
    return (
        f"{str(path)!r} is incomplete: {done:,} of {total:,} patient-scenarios written; "
        f"finish it with `t1dmc run CONFIG -o {path} --resume`"
    )


def window_days(ds: xr.Dataset, day: int | None, window: int) -> slice:
    """The `window` days ending at `day` (default the last) as a slice of the day dimension;
    ValueError when out of range (nothing is written then). Compare, report and attribution
    all take their window from here."""
    n_days = ds.sizes["day"]
    last = n_days - 1 if day is None else int(day)
    if not 0 <= last < n_days:
        raise ValueError(f"--day {day}: out of range 0..{n_days - 1}")
    if window < 1:
        raise ValueError(f"--window {window}: must be >= 1")
    return slice(max(0, last - window + 1), last + 1)


def _pairing(ds: xr.Dataset, b: int) -> np.ndarray:
    """Per scenario, whether its patients are the baseline's people: common random numbers,
    and the same run.seed (a swept seed draws other patients: docs/results.md)."""
    S = ds.sizes["scenario"]
    crn = int(ds.attrs.get("common_random_numbers", 1)) == 1
    seeds = ds.attrs.get("scenario_seeds")
    if seeds is None or len(seeds) != S:
        return np.full(S, crn)
    return np.array([crn and str(seeds[s]) == str(seeds[b]) for s in range(S)])


def compare(ds: xr.Dataset, baseline=None, day: int | None = None, window: int = 14) -> xr.Dataset:
    """Differences (scenario - baseline) of each outcome's per-patient mean over the `window`
    days ending at `day` (default: the last day). Patients not marked `completed` are left
    out (their values are not results yet)."""
    days = window_days(ds, day, window)
    b = _baseline_index(ds, baseline)
    outcomes = [o for o in OUTCOMES if o[0] in ds]
    lost = None
    if "log_phi" in ds:
        mechanisms = [str(m) for m in ds["mechanism"].values]
        outcomes += [(LOST_PREFIX + m, f"s_p lost to {m}", LOG_POINTS) for m in mechanisms]
        lost = -100.0 * ds["log_phi"].isel(day=days).astype(np.float64).mean("day")
        lost = lost.transpose("scenario", "patient", "mechanism").values
    S = ds.sizes["scenario"]
    pairing = _pairing(ds, b)
    stats = {
        k: np.full((S, len(outcomes)), np.nan)
        for k in ("baseline_mean", "scenario_mean", "difference", "ci_low", "ci_high")
    }
    n_used = np.zeros((S, len(outcomes)), dtype=np.int64)
    written = (np.asarray(ds["completed"].values) != 0) if "completed" in ds else None
    for j, (var, _, _) in enumerate(outcomes):
        if var.startswith(LOST_PREFIX):
            per_patient = lost[:, :, mechanisms.index(var[len(LOST_PREFIX) :])].copy()
        else:  # (S, N)
            per_patient = ds[var].isel(day=days).mean("day").values.astype(np.float64)
        if written is not None:
            per_patient[~written] = np.nan
        base = per_patient[b]
        for s in range(S):
            cur = per_patient[s]
            if pairing[s]:
                ok = np.isfinite(base) & np.isfinite(cur)
                d = cur[ok] - base[ok]
                n = d.size
                mean_d = d.mean() if n else np.nan
                se = d.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
                df = n - 1
                bm, sm = base[ok].mean() if n else np.nan, cur[ok].mean() if n else np.nan
            else:
                x, y = cur[np.isfinite(cur)], base[np.isfinite(base)]
                n = min(x.size, y.size)
                bm, sm = y.mean(), x.mean()
                mean_d = sm - bm
                vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
                se = np.sqrt(vx + vy)
                # Welch-Satterthwaite
                df = (
                    (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
                    if n > 1 and vx + vy > 0
                    else 0
                )
            stats["baseline_mean"][s, j] = bm
            stats["scenario_mean"][s, j] = sm
            stats["difference"][s, j] = mean_d
            half = t975(df) * se if se > 0 else 0.0 * se  # no spread: the interval is the point
            stats["ci_low"][s, j] = mean_d - half
            stats["ci_high"][s, j] = mean_d + half
            n_used[s, j] = n
    coords = {
        "scenario": ds["scenario"].values,
        "scenario_name": ("scenario", [str(v) for v in ds["scenario_name"].values]),
        "outcome": [o[0] for o in outcomes],
        "outcome_units": ("outcome", [o[2] for o in outcomes]),
    }
    out = xr.Dataset(coords=coords)
    for k, v in stats.items():
        out[k] = (("scenario", "outcome"), v)
    out["n_patients"] = (("scenario", "outcome"), n_used)
    out["paired"] = (("scenario",), pairing)
    out["paired"].attrs["long_name"] = "differences taken patient by patient (the same people)"
    out["difference"].attrs["long_name"] = "scenario minus baseline"
    out.attrs.update(
        baseline=int(b),
        baseline_name=coords["scenario_name"][1][b],
        first_day=int(days.start),
        last_day=int(days.stop - 1),
        method=(
            "paired"
            if pairing.all()
            else "unpaired"
            if not pairing[np.arange(S) != b].any()
            else "paired where the seed is the baseline's, else unpaired"
        ),
        interval="95%, Student t",
        patients_in_store=int(ds.sizes["patient"]),
    )
    if written is not None:
        out.attrs["patient_scenarios_written"] = int(written.sum())
        out.attrs["patient_scenarios_in_store"] = int(written.size)
    return out


def n_line(cmp: xr.Dataset) -> str:
    """How many patients the differences rest on."""
    others = [s for s in range(cmp.sizes["scenario"]) if s != cmp.attrs["baseline"]]
    n = cmp["n_patients"].values[others] if others else cmp["n_patients"].values
    lo, hi = (int(n.min()), int(n.max())) if n.size else (0, 0)
    count = f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"
    method = cmp.attrs["method"]
    pairing = (
        "paired: the same patients in both scenarios"
        if method == "paired"
        else "unpaired: each scenario its own patients"
        if method == "unpaired"
        else "paired where a scenario has the baseline's seed, unpaired where another seed "
        "drew other patients"
    )
    line = f"n = {count} patients per scenario ({pairing}"
    store_n = cmp.attrs.get("patients_in_store")
    if store_n is not None and hi < store_n:
        line += f"; of {store_n:,} in the store, those unfinished or stopped are left out"
    line += ")"
    written = cmp.attrs.get("patient_scenarios_written")
    total = cmp.attrs.get("patient_scenarios_in_store")
    if written is not None and written < total:
        line += (
            f"\nINCOMPLETE STORE: {written:,} of {total:,} patient-scenarios written; "
            "these results use only those"
        )
    return line


def format_table(cmp: xr.Dataset, mmol: bool = False) -> str:
    """The comparison as a text table; glucose in mmol/L when `mmol` (the store and JSON keep
    mg/dL)."""
    from ..model.units import MMOL_LABELS, glucose_display

    labels = {o[0]: MMOL_LABELS.get(o[1], o[1]) if mmol else o[1] for o in OUTCOMES}
    labels |= {
        str(o): f"s_p lost to {str(o)[len(LOST_PREFIX) :]}"
        for o in cmp["outcome"].values
        if str(o).startswith(LOST_PREFIX)
    }
    shown_units = [glucose_display(1.0, str(u), mmol)[1] for u in cmp["outcome_units"].values]
    width = 2 + max(
        len(f"{labels[o]} ({u})") for o, u in zip(cmp["outcome"].values, shown_units, strict=True)
    )
    lines = [
        f"differences from scenario {cmp.attrs['baseline']} ({cmp.attrs['baseline_name']}),"
        f" days {cmp.attrs['first_day']}-{cmp.attrs['last_day']}, "
        f"{cmp.attrs['method']}, 95% interval",
        n_line(cmp),
    ]
    header = (
        f"  {'outcome':<{width}}{'baseline':>10}{'scenario':>10}{'difference':>12}"
        f"{'95% interval':>24}{'n':>9}"
    )
    for s in range(cmp.sizes["scenario"]):
        if s == cmp.attrs["baseline"]:
            continue
        alone = (
            ""
            if cmp.attrs["method"] in ("paired", "unpaired")
            else (" (paired)" if bool(cmp["paired"].values[s]) else " (unpaired: another seed)")
        )
        lines.append(f"scenario {s}: {cmp['scenario_name'].values[s]}{alone}")
        lines.append(header)
        for j, o in enumerate(cmp["outcome"].values):
            units = str(cmp["outcome_units"].values[j])
            r = {
                k: glucose_display(float(cmp[k].values[s, j]), units, mmol)[0]
                for k in ("baseline_mean", "scenario_mean", "difference", "ci_low", "ci_high")
            }
            ci = (
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                if np.isfinite(r["ci_low"])
                else "(n < 2: none)"
            )
            lines.append(
                f"  {labels[o] + ' (' + shown_units[j] + ')':<{width}}"
                f"{r['baseline_mean']:>10.3f}{r['scenario_mean']:>10.3f}"
                f"{r['difference']:>+12.3f}{ci:>24}"
                f"{int(cmp['n_patients'].values[s, j]):>9,}"
            )
    if cmp.sizes["scenario"] < 2:
        lines.append(
            "nothing to compare: the store has one scenario (a sweep, [sweep.grid] or "
            "[sweep.zip], gives it more)"
        )
    return "\n".join(lines)


def to_json(cmp: xr.Dataset) -> dict:
    rows = []
    for s in range(cmp.sizes["scenario"]):
        for j, o in enumerate(cmp["outcome"].values):
            rows.append(
                {
                    "scenario": int(s),
                    "scenario_name": str(cmp["scenario_name"].values[s]),
                    "outcome": str(o),
                    "units": str(cmp["outcome_units"].values[j]),
                    **{
                        k: float(cmp[k].values[s, j])
                        for k in (
                            "baseline_mean",
                            "scenario_mean",
                            "difference",
                            "ci_low",
                            "ci_high",
                        )
                    },
                    "n_patients": int(cmp["n_patients"].values[s, j]),
                    "paired": bool(cmp["paired"].values[s]),
                }
            )
    return {
        "engine": ENGINE_TAG,
        **{
            k: v for k, v in cmp.attrs.items() if k not in ("engine", "t1dmc_nodes", "t1dmc_output")
        },
        "rows": rows,
    }
