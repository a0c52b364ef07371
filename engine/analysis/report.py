"""`t1dmc report STORE -o DIR`: one self-contained HTML page (figures embedded) plus the PNG
figures, from a results store.

What it shows, per scenario and age group, over a window of days (`--window`, default 14,
ending at `--day`, default the last): key outcomes; time in ranges (<54, 54-69, 70-180,
181-250, >250 mg/dL); hypoglycaemia (TBR, events per patient-week) and severe events (severe
hypoglycaemia, ketoacidosis, hyperglycaemic admissions per 100 patient-years, over the run up
to the window's end); what makes patients resistant (engine.analysis.attribution: population
shares as ratios of sums, over time, and the loss of sensitivity by cause in percentage
points); the scenario comparison as a forest plot (engine.analysis.compare); the ambulatory
glucose profile of the traced patients' CGM; population trajectories over the whole run.
Glucose in mg/dL or, with `units="mmol"`, mmol/L.

Memory is bounded: nothing of shape (scenario, patient, day) is ever loaded. Daily variables
are reduced over days by dask chunk by chunk, a scenario at a time, to one value per patient
(a float per patient per variable); percentiles over patients by day come from per-day
histograms accumulated one stored block of patients at a time. Every scenario is in the
tables; figures draw at most FIGURE_SCENARIOS of them and the page names those left out.

The report is built in a temporary folder beside DIR and moved into place when whole
(storeguard.write_output): an existing DIR is replaced only with --overwrite and only when it
is a report the engine wrote (`is_t1dmc_report`) or an empty folder. The page holds no time
of rendering: the same store and options give the same bytes.
"""

import base64
import html
import math
import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..model.params import MINUTES_PER_DAY
from ..model.units import MG_PER_MMOL
from . import attribution
from . import compare as cmp_mod
from .stats import t975

# the consensus thresholds in mmol/L (181 mg/dL is 10.05: written 10.1, above 10.0)
MMOL_LEVELS = {54: "3.0", 69: "3.8", 70: "3.9", 180: "10.0", 181: "10.1", 250: "13.9"}
FIGURE_SCENARIOS = 12  # more than this are in the tables, not in the figures
DEFAULT_WINDOW = 14
REPORT_THREADS = 4  # dask threads reading the store: bounds memory on many-core machines
HIST_BINS = 2000  # per-day histogram bins for percentiles over patients (error < range/2000)
Z95 = 1.959963984540054
DAYS_PER_YEAR = 365.25

FIGURES = (
    "trajectories",
    "time_in_ranges",
    "hypoglycaemia",
    "severe_events",
    "attribution",
    "loss_by_cause",
    "loss_by_group",
    "forest",
    "agp",
    "distributions",
)
LEGACY_FIGURES = ("final_day",)  # written by 0.3 reports: still recognised as the engine's
REPORT_PAGE = "report.html"
REPORT_FILES = frozenset({REPORT_PAGE, *(f"{name}.png" for name in FIGURES + LEGACY_FIGURES)})
GENERATOR = '<meta name="generator" content="t1dmc'
STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:auto;padding:0 12px;font-size:15px;"
    "line-height:1.4} img{max-width:100%} figure{margin:12px 0} figcaption{font-size:14px;"
    "color:#333} .wide{overflow-x:auto} table{border-collapse:collapse;font-size:13px;"
    "margin:8px 0} td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top} "
    "td.n{text-align:right;white-space:nowrap} th{background:#f2f2f2} .note{background:#fff4ce;"
    "border-left:4px solid #e0a800;padding:6px 10px} pre{font-size:12px;overflow-x:auto}"
)
RC = {  # figures are drawn at 100 dpi and shown 1:1 on a 1000 px page: 10 pt ~ 14 px
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "svg.hashsalt": "t1dmc",
}
DPI = 100
FIG_W = 9.8  # inches: 980 px

# (variable, title, units; None: the store's) of the population trajectories
TRAJECTORIES = (
    ("si_peripheral", "peripheral insulin sensitivity s_p", "1 = lean healthy"),
    ("tdd_per_kg", "total daily insulin dose per kg", "U/kg/day"),
    ("weight_kg", "body weight", "kg"),
    ("hba1c", "HbA1c", "%"),
    ("tir", "time in range {r70}-{r180} {u}", "%"),
)
MECHANISM_LABELS = {
    "body_composition": "body composition",
    "ffa": "free fatty acids",
    "inflammation": "inflammation",
    "glucotoxicity": "glucotoxicity",
    "receptor_downregulation": "receptor downregulation",
    "genetic": "genetic (type 2 risk)",
    "counterregulation": "counter-regulation",
    "exercise": "exercise",
}
# forest plot: outcome -> (label, units of a difference); others get compare's label
FOREST_LABELS = {
    "tir": ("time in range {r70}-{r180} {u}", "percentage points"),
    "hba1c": ("HbA1c", "percentage points"),
    "tdd_per_kg": ("total daily insulin dose per kg", "U/kg/day"),
    "weight_kg": ("body weight", "kg"),
    "si_peripheral": ("peripheral insulin sensitivity s_p", "1 = lean healthy"),
    "glucose_mean": ("mean glucose", "{u}"),
    "tbr70": ("time below {r70} {u}", "percentage points"),
    "tbr54": ("time below {r54} {u}", "percentage points"),
    "tar180": ("time above {r180} {u}", "percentage points"),
}
GLUCOSE_OUTCOMES = frozenset({"glucose_mean"})  # values (and differences) in glucose units
# the five bands of time in ranges: (variables added, subtracted), colour (AGP convention)
BANDS = (
    (("tbr54",), (), "#8b0000"),
    (("tbr70",), ("tbr54",), "#e03020"),
    (("tir",), (), "#2e9e44"),
    (("tar180",), ("tar250",), "#f2b705"),
    (("tar250",), (), "#e07b00"),
)
# hypoglycaemia: variable, label, scale of a per-patient daily mean, units
HYPO = (
    ("tbr70", "time below {r70} {u}", 1.0, "%"),
    ("tbr54", "time below {r54} {u}", 1.0, "%"),
    ("hypo_events", "hypoglycaemia events", 7.0, "per patient-week"),
)
SEVERE = (
    ("severe_hypo_events", "severe hypoglycaemia (glucagon)"),
    ("dka_events", "ketoacidosis"),
    ("hyperglycaemia_admissions", "hyperglycaemic-crisis admissions"),
)
# key outcomes table: variable, label, units (None: glucose units), decimals
KEY_OUTCOMES = (
    ("tir", "TIR {r70}-{r180}", "%", 1),
    ("tbr70", "TBR <{r70}", "%", 2),
    ("tbr54", "TBR <{r54}", "%", 2),
    ("glucose_mean", "mean glucose", None, 1),
    ("hba1c", "HbA1c", "%", 2),
    ("tdd_per_kg", "TDD per kg", "U/kg/day", 2),
    ("weight_kg", "weight", "kg", 1),
    ("si_peripheral", "s_p", "1 = lean healthy", 3),
    ("egdr", "eGDR", "mg/kg/min", 2),
)
DISTRIBUTIONS = (
    ("egdr", "estimated glucose disposal rate (eGDR)", "mg/kg/min"),
    ("tdd_per_kg", "total daily insulin dose per kg", "U/kg/day"),
)
GROUP_ORDER = ("child", "adolescent", "adult")
# insulin delivery and the pump (docs/controllers.md): (variable, label, units, decimals,
# shown only where some scenario's value is not 0 or missing)
DELIVERY = (
    ("tdd", "total daily dose", "U/day", 1, False),
    ("basal_u", "basal", "U/day", 1, False),
    ("bolus_u", "bolus", "U/day", 1, False),
    ("auto_bolus_u", "of which automatic", "U/day", 2, True),
    ("closed_loop_pct", "time in closed loop", "%", 1, True),
    ("suspend_min", "insulin suspended", "min/day", 0, True),
    ("sensor_gap_min", "no sensor reading", "min/day", 0, True),
    ("set_failures", "infusion-set failures", "per 100 days", 1, True),
    ("aid_sensitivity_ratio", "controller's sensitivity ratio", "1", 3, True),
    ("si_peripheral", "s_p", "1 = lean healthy", 3, False),
)
# the pump's own outputs: "-" (not 0) for a row of patients none of whom has a pump
PUMP_ONLY = frozenset(v for v, *_, optional in DELIVERY if optional)


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Glucose:
    """Glucose display units: mg/dL (as stored) or mmol/L."""

    mmol: bool = False

    @property
    def units(self) -> str:
        return "mmol/L" if self.mmol else "mg/dL"

    @property
    def factor(self) -> float:
        return 1.0 / MG_PER_MMOL if self.mmol else 1.0

    def level(self, mg: int) -> str:
        """A threshold as clinics write it: 70 mg/dL is 3.9 mmol/L, 69 is 3.8, 181 is 10.1
        (the international consensus on time in ranges, Battelino 2019)."""
        if not self.mmol:
            return str(mg)
        return MMOL_LEVELS.get(mg, f"{mg / MG_PER_MMOL:.1f}")

    def fmt(self, text: str) -> str:
        return text.format(
            r54=self.level(54),
            r70=self.level(70),
            r180=self.level(180),
            r250=self.level(250),
            u=self.units,
        )

    def band_labels(self) -> list[str]:
        lv = self.level
        return [
            f"<{lv(54)}",
            f"{lv(54)}-{lv(69)}",
            f"{lv(70)}-{lv(180)}",
            f"{lv(181)}-{lv(250)}",
            f">{lv(250)}",
        ]


# ----------------------------------------------------------------------------- reductions


def _scenario_labels(ds) -> list[str]:
    return [f"{s}: {n}" for s, n in zip(ds["scenario"].values, ds["scenario_name"].values)]


def _group_labels(ds) -> tuple[list[str], np.ndarray]:
    """(groups in age order, (scenario, patient) array of each patient's group); a store
    without `group` has one group, "all"."""
    S, N = ds.sizes["scenario"], ds.sizes["patient"]
    if "group" not in ds:
        return [], np.full((S, N), "all", dtype=object)
    g = ds["group"]
    if "scenario" not in g.dims:
        g = g.expand_dims(scenario=S)
    raw = g.transpose("scenario", "patient").values  # numpy StringDType or object
    labels = np.array([str(x) for x in raw.ravel()], dtype=object).reshape(raw.shape)
    present = set(labels.ravel()) - {""}
    ordered = [x for x in GROUP_ORDER if x in present] + sorted(present - set(GROUP_ORDER))
    return ordered, labels


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95% interval (Student's t) over the finite values of `x`."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    if x.size < 2:
        return (m, np.nan, np.nan)
    h = t975(x.size - 1) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return (m, m - h, m + h)


def _poisson_cdf(k: int, mu: float) -> float:
    if mu <= 0:
        return 1.0
    log_mu = math.log(mu)
    return math.fsum(math.exp(-mu + i * log_mu - math.lgamma(i + 1)) for i in range(k + 1))


def poisson_interval(k: int) -> tuple[float, float]:
    """95% interval of a Poisson mean from a count `k`: exact (Garwood) up to 200 events,
    Byar's approximation above (within 0.1% there)."""
    if k == 0:
        return (0.0, -math.log(0.025))
    if k > 200:
        lo = k * (1 - 1 / (9 * k) - Z95 / (3 * math.sqrt(k))) ** 3
        k1 = k + 1
        hi = k1 * (1 - 1 / (9 * k1) + Z95 / (3 * math.sqrt(k1))) ** 3
        return (lo, hi)

    def solve(f, a, b):  # f increasing in mu on [a, b], f(a) < 0 < f(b)
        for _ in range(80):
            m = 0.5 * (a + b)
            a, b = (m, b) if f(m) < 0 else (a, m)
        return 0.5 * (a + b)

    top = k + 20 * math.sqrt(k) + 20
    lo = solve(lambda mu: (1 - _poisson_cdf(k - 1, mu)) - 0.025, 0.0, top)  # P(X >= k) = .025
    hi = solve(lambda mu: 0.025 - _poisson_cdf(k, mu), 0.0, top)  # P(X <= k) = .025
    return (lo, hi)


def _per_patient(ds, s: int, means: list, sums: list, days: slice, run_days: slice) -> dict:
    """One scenario's per-patient reductions, computed by dask chunk by chunk: each variable
    of `means` averaged over the window `days` (missing days skipped), each of `sums` summed
    over `run_days` with its number of days observed (`<var>:days`), and `stopped` (status
    ever > 0 up to the window's end). {name: (patient,) float64}."""
    sub = ds.isel(scenario=s)
    out = {f"mean:{v}": sub[v].isel(day=days).mean("day") for v in means if v in sub}
    for v in sums:
        if v in sub:
            x = sub[v].isel(day=run_days)
            out[f"sum:{v}"] = x.sum("day")
            out[f"days:{v}"] = x.count("day")
    if "status" in sub:
        out["stopped"] = sub["status"].isel(day=run_days).max("day") > 0
    done = xr.Dataset(out).compute()
    return {k: np.asarray(v.values, dtype=np.float64) for k, v in done.items()}


def _finish_quantiles(counts: np.ndarray, lo: float, width: float, qs) -> np.ndarray:
    """(len(qs), day) percentiles from (day, bin) counts, linear within a bin; NaN on days
    without a value."""
    D, K = counts.shape
    cum = np.cumsum(counts, axis=1)
    n = cum[:, -1].astype(np.float64)
    rows = np.arange(D)
    out = np.full((len(qs), D), np.nan)
    for i, q in enumerate(qs):
        target = q * n
        k = np.minimum((cum < target[:, None]).sum(axis=1), K - 1)
        below = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], 0)
        inside = counts[rows, k]
        frac = np.where(inside > 0, (target - below) / np.maximum(inside, 1), 0.5)
        out[i] = np.where(n > 0, lo + (k + np.clip(frac, 0, 1)) * width, np.nan)
    return out


def daily_quantiles(da: xr.DataArray, qs=(0.25, 0.5, 0.75)) -> np.ndarray:
    """(len(qs), scenario, day): percentiles over patients of a (scenario, patient, day)
    variable, from per-day histograms of HIST_BINS bins between the scenario's smallest and
    largest value, accumulated one stored block of patients at a time (memory: one block,
    whatever the number of patients). Within (max - min) / HIST_BINS of numpy's percentile,
    plus the gap between neighbouring values (negligible over thousands of patients)."""
    da = da.transpose("scenario", "patient", "day")
    S, N, D = da.shape
    lo_hi = xr.Dataset({"lo": da.min(("patient", "day")), "hi": da.max(("patient", "day"))})
    lo_hi = lo_hi.compute()
    chunks = da.variable.chunks[1] if da.variable.chunks is not None else None
    edges = np.cumsum((0, *(chunks or (N,))))
    out = np.full((len(qs), S, D), np.nan)
    day_offset = np.arange(D, dtype=np.int64) * HIST_BINS
    for s in range(S):
        lo, hi = float(lo_hi["lo"].values[s]), float(lo_hi["hi"].values[s])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        width = (hi - lo) / HIST_BINS if hi > lo else 0.0
        counts = np.zeros(D * HIST_BINS, dtype=np.int64)
        for a, b in zip(edges[:-1], edges[1:]):
            x = np.asarray(da.isel(scenario=s, patient=slice(a, b)).values, dtype=np.float64)
            ok = np.isfinite(x)
            days = np.broadcast_to(day_offset, x.shape)[ok]
            if width > 0:
                idx = np.minimum(((x[ok] - lo) / width).astype(np.int64), HIST_BINS - 1)
            else:
                idx = 0
            counts += np.bincount(days + idx, minlength=D * HIST_BINS)
            del x, ok, days, idx
        out[:, s, :] = _finish_quantiles(counts.reshape(D, HIST_BINS), lo, width, qs)
    return out


@dataclass
class Row:
    """One (scenario, group) row of the tables and bar figures; group "all" is everyone."""

    scenario: int
    group: str
    label: str  # scenario label
    stats: dict  # name -> value(s)


def collect_rows(ds, days: slice, groups: list, group_of: np.ndarray) -> list[Row]:
    """Per (scenario, group): key outcomes (median and IQR of per-patient window means), the
    five bands of time in ranges, hypoglycaemia (mean and 95% interval), severe events
    (count, patient-years, rate per 100 patient-years and its Poisson interval)."""
    means = sorted(
        {v for v, *_ in KEY_OUTCOMES}
        | {v for b in BANDS for v in b[0] + b[1]}
        | {v for v, *_ in HYPO}
        | {v for v, *_ in DISTRIBUTIONS}
    )
    sums = [v for v, _ in SEVERE]
    run_days = slice(0, days.stop)
    labels = _scenario_labels(ds)
    rows = []
    for s in range(ds.sizes["scenario"]):
        pp = _per_patient(ds, s, means, sums, days, run_days)
        for g in ["all", *(groups if len(groups) > 1 else [])]:
            sel = np.ones(ds.sizes["patient"], bool) if g == "all" else group_of[s] == g
            if not sel.any():
                continue
            st = {"n": int(sel.sum())}
            if "stopped" in pp:
                st["stopped"] = int(np.nansum(pp["stopped"][sel]))
            for v in means:
                if f"mean:{v}" not in pp:
                    continue
                x = pp[f"mean:{v}"][sel]
                fin = x[np.isfinite(x)]
                st[f"n:{v}"] = int(fin.size)
                st[f"mean:{v}"] = _mean_ci(x)
                st[f"q:{v}"] = (
                    tuple(np.percentile(fin, [25, 50, 75])) if fin.size else (np.nan,) * 3
                )
                if g == "all":
                    st[f"values:{v}"] = fin.astype(np.float32)  # for the histograms
            if all(f"mean:{v}" in pp for b in BANDS for v in b[0] + b[1]):
                st["bands"] = _bands(pp, sel)
            for v in sums:
                if f"sum:{v}" not in pp:
                    continue
                k = int(round(float(np.nansum(pp[f"sum:{v}"][sel]))))
                py = float(np.nansum(pp[f"days:{v}"][sel])) / DAYS_PER_YEAR
                lo, hi = poisson_interval(k)
                per = 100.0 / py if py > 0 else np.nan
                st[f"severe:{v}"] = (k, py, k * per, lo * per, hi * per)
            rows.append(Row(s, g, labels[s], st))
        del pp
    return rows


def _bands(pp: dict, sel: np.ndarray) -> np.ndarray:
    """The five bands' mean share of time (%) over the patients of `sel` with a value for
    each; they add up to 100."""
    cols = []
    for plus, minus, _ in BANDS:
        x = sum(pp[f"mean:{v}"][sel] for v in plus) - sum(
            (pp[f"mean:{v}"][sel] for v in minus), np.zeros(int(sel.sum()))
        )
        cols.append(x)
    a = np.stack(cols, axis=1)
    a = a[np.isfinite(a).all(axis=1)]
    if a.size == 0:
        return np.full(len(BANDS), np.nan)
    a = np.clip(a, 0, None).mean(axis=0)
    return 100.0 * a / a.sum() if a.sum() > 0 else a


# ----------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(plt, n: int):
    """A colour per scenario: tab10, then Dark2 (saturated: no pale shades on white)."""
    palette = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors]
    return [palette[i % len(palette)] for i in range(n)]


def _wrap(text: str, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _save(fig, plt, path) -> None:
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def _row_label(r: Row) -> str:
    return _wrap(r.label) + ("" if r.group == "all" else f"\n  {r.group}")


TICK_LINE_IN = 9 * 1.25 / 72  # one line of a 9-point tick label, inches


def _row_in(labels, base: float) -> float:
    """Inches per row of a chart whose rows carry these tick labels: `base`, or more where a
    label wraps to so many lines that it would run into its neighbours'."""
    lines = max((str(t).count("\n") + 1 for t in labels), default=1)
    return max(base, TICK_LINE_IN * lines + 0.12)


def _separate_scenarios(ax, scenario_of_row: list, y) -> None:
    """A thin line between the rows of two scenarios."""
    for i in range(1, len(scenario_of_row)):
        if scenario_of_row[i] != scenario_of_row[i - 1]:
            ax.axhline((y[i] + y[i - 1]) / 2, color="0.55", lw=0.8)


def _suptitle(fig, text: str, fontsize: float = 12) -> None:
    """A figure title in the top 0.45 inch (matplotlib's default place, 2% of the height
    from the top, falls inside the first panel of a tall figure)."""
    h = fig.get_size_inches()[1]
    fig.suptitle(text, y=1 - 0.08 / h, va="top", fontsize=fontsize)


def _tight(fig, top_in: float = 0.0) -> None:
    """tight_layout below a band of `top_in` inches kept for the title."""
    h = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0, 1, 1 - top_in / h))


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _nice_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6, symmetric=True)


def _grid(n: int, max_cols: int = 2) -> tuple[int, int]:
    cols = 1 if n <= 2 else max_cols
    return -(-n // cols), cols


def fig_trajectories(ds, plt, path, shown, days: slice, colors, glu: Glucose) -> None:
    present = [t for t in TRAJECTORIES if t[0] in ds]
    fig, axes = plt.subplots(
        len(present), 1, figsize=(FIG_W, 2.4 * len(present) + 0.8), sharex=True, squeeze=False
    )
    day_axis = ds["day"].values
    labels = _scenario_labels(ds)
    for ax, (var, title, units) in zip(axes[:, 0], present):
        q = daily_quantiles(ds[var].isel(scenario=shown))
        for i, s in enumerate(shown):
            (line,) = ax.plot(day_axis, q[1, i], lw=1.6, color=colors[s], label=_wrap(labels[s]))
            ax.fill_between(day_axis, q[0, i], q[2, i], color=colors[s], alpha=0.18, lw=0)
        ax.axvspan(days.start - 0.5, days.stop - 0.5, color="0.85", alpha=0.5, lw=0, zorder=0)
        ax.set_ylabel(units)
        ax.set_title(glu.fmt(title), loc="left")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("day of the run (grey: the window of the tables)")
    axes[-1, 0].xaxis.set_major_locator(_integer_ticks())
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _suptitle(fig, "median (line) and interquartile range (band) over patients, each day")
    _tight(fig, 0.45)
    _save(fig, plt, path)


def fig_time_in_ranges(rows: list[Row], plt, path, glu: Glucose) -> None:
    rows = [r for r in rows if "bands" in r.stats]
    row_in = _row_in([_row_label(r) for r in rows], 0.42)
    fig, ax = plt.subplots(figsize=(FIG_W, row_in * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    names = glu.band_labels()
    for j, (_, _, color) in enumerate(BANDS):
        w = np.array([r.stats["bands"][j] for r in rows])
        w = np.nan_to_num(w)
        ax.barh(y, w, left=left, color=color, height=0.75, label=f"{names[j]} {glu.units}")
        for yy, ll, ww in zip(y, left, w):
            if ww >= 4:
                ax.text(
                    ll + ww / 2,
                    yy,
                    f"{ww:.0f}" if ww >= 10 else f"{ww:.1f}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if j in (0, 1, 2) else "black",
                )
        left += w
    _separate_scenarios(ax, [r.scenario for r in rows], y)
    ax.set_yticks(y)
    ax.set_yticklabels([_row_label(r) for r in rows], fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of time (%)")
    ax.legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    _save(fig, plt, path)


def _interval_panel(ax, y, mid, lo, hi, color="C0"):
    mid, lo, hi = (np.asarray(v, dtype=float) for v in (mid, lo, hi))
    ax.barh(y, np.nan_to_num(mid), color=color, alpha=0.35, height=0.7)
    err = np.array([np.nan_to_num(mid - lo), np.nan_to_num(hi - mid)])
    ax.errorbar(np.nan_to_num(mid), y, xerr=np.clip(err, 0, None), fmt="none", ecolor="k", lw=1)
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)


def fig_hypoglycaemia(rows: list[Row], plt, path, glu: Glucose) -> None:
    present = [h for h in HYPO if f"mean:{h[0]}" in rows[0].stats]
    row_in = _row_in([_row_label(r) for r in rows], 0.42)
    fig, axes = plt.subplots(
        1, len(present), figsize=(FIG_W, row_in * len(rows) + 1.8), sharey=True, squeeze=False
    )
    y = np.arange(len(rows))[::-1]
    for ax, (v, label, scale, units) in zip(axes[0], present):
        m = np.array([r.stats[f"mean:{v}"] for r in rows]) * scale
        _interval_panel(ax, y, m[:, 0], m[:, 1], m[:, 2], color="#e03020")
        _separate_scenarios(ax, [r.scenario for r in rows], y)
        ax.set_title(_wrap(glu.fmt(label), 24), fontsize=10)
        ax.set_xlabel(units)
    axes[0, 0].set_yticks(y)
    axes[0, 0].set_yticklabels([_row_label(r) for r in rows], fontsize=9)
    _suptitle(fig, "mean over patients with 95% interval, over the window")
    _tight(fig, 0.45)
    _save(fig, plt, path)


def fig_severe(rows: list[Row], plt, path, first_last: tuple) -> None:
    present = [e for e in SEVERE if f"severe:{e[0]}" in rows[0].stats]
    row_in = _row_in([_row_label(r) for r in rows], 0.42)
    fig, axes = plt.subplots(
        1, len(present), figsize=(FIG_W, row_in * len(rows) + 1.8), sharey=True, squeeze=False
    )
    y = np.arange(len(rows))[::-1]
    for ax, (v, label) in zip(axes[0], present):
        a = np.array([r.stats[f"severe:{v}"] for r in rows])  # k, py, rate, lo, hi
        _interval_panel(ax, y, a[:, 2], a[:, 3], a[:, 4], color="#7a3db8")
        _separate_scenarios(ax, [r.scenario for r in rows], y)
        for yy, k, hi in zip(y, a[:, 0], np.nan_to_num(a[:, 4])):
            ax.annotate(
                f"{int(k)} event{'' if k == 1 else 's'}",
                (hi, yy),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
                color="0.25",
            )
        ax.set_xlim(0, 1.45 * max(np.nanmax(np.nan_to_num(a[:, 4])), 1e-9))
        ax.set_title(_wrap(label, 24), fontsize=10)
        ax.set_xlabel("per 100 patient-years")
    axes[0, 0].set_yticks(y)
    axes[0, 0].set_yticklabels([_row_label(r) for r in rows], fontsize=9)
    _suptitle(
        fig,
        f"rate per 100 patient-years with 95% Poisson interval, days {first_last[0]}-"
        f"{first_last[1]}; at the right: events counted",
    )
    _tight(fig, 0.45)
    _save(fig, plt, path)


def _mech_labels(ds) -> list[str]:
    return [MECHANISM_LABELS.get(str(m), str(m).replace("_", " ")) for m in ds["mechanism"].values]


def fig_attribution(ds, plt, path, shares: np.ndarray, shown, days: slice) -> None:
    """Stacked population shares (ratio of sums) per day, a panel per scenario."""
    rows, cols = _grid(len(shown))
    fig, axes = plt.subplots(
        rows, cols, figsize=(FIG_W, 2.5 * rows + 1.2), sharex=True, squeeze=False
    )
    day_axis = ds["day"].values
    names = _mech_labels(ds)
    colors = _mech_colors(plt, len(names))
    labels = _scenario_labels(ds)
    for i, s in enumerate(shown):
        ax = axes.flat[i]
        sh = 100.0 * shares[s]  # (day, mechanism), NaN where the loss is immaterial
        pos = np.where(np.isfinite(sh), np.clip(sh, 0, None), np.nan).T
        neg = np.where(np.isfinite(sh), np.clip(sh, None, 0), np.nan).T
        ax.stackplot(day_axis, pos, colors=colors, labels=names)
        ax.stackplot(day_axis, neg, colors=colors)
        ax.axhline(0, color="k", lw=0.6)
        ax.axhline(100, color="k", lw=0.6, ls=":")
        ax.axvspan(days.start - 0.5, days.stop - 0.5, color="0.85", alpha=0.4, lw=0, zorder=0)
        ax.set_title(_wrap(labels[s], 48), loc="left", fontsize=10)
        ax.set_ylabel("share of the loss (%)")
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("day of the run")
        ax.xaxis.set_major_locator(_integer_ticks())
    handles, leg = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, leg, ncol=4, loc="upper center", frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / (2.5 * rows + 1.2)))
    _save(fig, plt, path)


def _mech_colors(plt, n: int):
    cmap = plt.get_cmap("tab10")
    return [cmap(i) for i in range(n)]


def fig_loss_by_cause(ds, plt, path, pop: xr.Dataset, shown) -> None:
    """A horizontal waterfall per scenario: each mechanism's percentage points of sensitivity
    lost (negative: regained), cumulated, and the total, with 95% intervals."""
    names = _mech_labels(ds)
    M = len(names)
    rows, cols = _grid(len(shown))
    h = 0.3 * (M + 1) + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_W, h * rows + 0.3), squeeze=False)
    labels = _scenario_labels(ds)
    for i, s in enumerate(shown):
        ax = axes.flat[i]
        lost = pop["lost_pp"].values[s]
        lo, hi = pop["lost_pp_low"].values[s], pop["lost_pp_high"].values[s]
        total = float(pop["lost_pp_total"].values[s])
        y = np.arange(M + 1)[::-1]
        start = np.concatenate([[0.0], np.cumsum(np.nan_to_num(lost))[:-1]])
        colors = ["#c0392b" if v >= 0 else "#2e9e44" for v in np.nan_to_num(lost)]
        ax.barh(y[:M], np.nan_to_num(lost), left=start, color=colors, height=0.7)
        ends = start + np.nan_to_num(lost)
        err = np.clip([np.nan_to_num(lost - lo), np.nan_to_num(hi - lost)], 0, None)
        ax.errorbar(ends, y[:M], xerr=err, fmt="none", ecolor="k", lw=0.9, capsize=2)
        ax.barh(y[M], total, color="0.35", height=0.7)
        right = np.maximum(np.maximum(ends, start), ends + err[1])
        for yy, x, v in zip(y[:M], right, lost):
            ax.annotate(
                f"{v:+.1f}",
                (x, yy),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9,
            )
        ax.annotate(
            f"{total:.1f} pp",
            (max(total, 0), y[M]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            weight="bold",
        )
        ax.set_yticks(y)
        ax.set_yticklabels(names + ["total lost"], fontsize=9)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(_wrap(labels[s], 48), loc="left", fontsize=10)
        ax.set_xlabel("sensitivity lost (percentage points)")
        ax.margins(x=0.22)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    fig.tight_layout()
    _save(fig, plt, path)


def fig_loss_by_group(ds, plt, path, pop: xr.Dataset, by_group: xr.Dataset | None, shown):
    """One stacked horizontal bar per (scenario, age group): percentage points lost to each
    mechanism (regained to the left of 0), a diamond at the total."""
    names = _mech_labels(ds)
    colors = _mech_colors(plt, len(names))
    labels = _scenario_labels(ds)
    bars = []  # (label, lost_pp (M,), total, scenario)
    for s in shown:
        bars.append((_wrap(labels[s]), pop["lost_pp"].values[s], pop["lost_pp_total"].values[s], s))
        if by_group is not None:
            for g, gname in enumerate(by_group["group"].values):
                if int(by_group["n"].values[s, g]) == 0:
                    continue
                bars.append(
                    (
                        f"  {gname}",
                        by_group["lost_pp"].values[s, g],
                        by_group["lost_pp_total"].values[s, g],
                        s,
                    )
                )
    fig, ax = plt.subplots(figsize=(FIG_W, _row_in([b[0] for b in bars], 0.36) * len(bars) + 1.8))
    y = np.arange(len(bars))[::-1]
    pos_left, neg_left = np.zeros(len(bars)), np.zeros(len(bars))
    values = np.nan_to_num(np.array([b[1] for b in bars]))
    for k in range(len(names)):
        v = values[:, k]
        p, n = np.clip(v, 0, None), np.clip(v, None, 0)
        ax.barh(y, p, left=pos_left, color=colors[k], height=0.72, label=names[k])
        ax.barh(y, n, left=neg_left, color=colors[k], height=0.72)
        pos_left += p
        neg_left += n
    ax.plot([b[2] for b in bars], y, "D", color="k", ms=5, label="total lost")
    lo, hi = min(0.0, float(neg_left.min())), max(0.0, float(pos_left.max()))
    pad = 0.04 * (hi - lo) if hi > lo else 1.0
    ax.set_xlim(lo - pad, hi + pad)
    ax.axvline(0, color="k", lw=0.6)
    _separate_scenarios(ax, [b[3] for b in bars], y)
    ax.set_yticks(y)
    ax.set_yticklabels([b[0] for b in bars], fontsize=9)
    ax.set_xlabel("sensitivity lost (percentage points; left of 0: regained)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    _save(fig, plt, path)


LOST_PREFIX = getattr(cmp_mod, "LOST_PREFIX", "lost_to_")  # compare's mechanism outcomes


def _forest_label(o: str, units: str, glu: Glucose) -> tuple[str, str]:
    if o in FOREST_LABELS:
        label, u = FOREST_LABELS[o]
        return glu.fmt(label), glu.fmt(u)
    if o.startswith(LOST_PREFIX):
        m = o[len(LOST_PREFIX) :]
        return f"sensitivity lost to {MECHANISM_LABELS.get(m, m.replace('_', ' '))}", units
    label = {x[0]: x[1] for x in cmp_mod.OUTCOMES}.get(o, o)
    return label, "percentage points" if units == "%" else units


def _forest_values(comparison, o: int, glu: Glucose) -> dict:
    name = str(comparison["outcome"].values[o])
    f = glu.factor if name in GLUCOSE_OUTCOMES else 1.0
    return {
        k: comparison[k].values[:, o] * f
        for k in ("baseline_mean", "scenario_mean", "difference", "ci_low", "ci_high")
    }


def _estimate(d: float, lo: float, hi: float) -> str:
    """ "+0.100 (+0.084 to +0.117)": decimals to the interval's second significant digit."""
    half = (hi - lo) / 2
    dec = (
        1
        if not (np.isfinite(half) and half > 0)
        else int(np.clip(1 - np.floor(np.log10(half)), 0, 4))
    )
    return f"{d:+.{dec}f} ({lo:+.{dec}f} to {hi:+.{dec}f})"


def _symmetric_xlim(ax, lo, hi) -> None:
    lim = np.nanmax(np.abs(np.concatenate([np.ravel(lo), np.ravel(hi), [0.0]])))
    if np.isfinite(lim) and lim > 0:
        ax.set_xlim(-1.15 * lim, 1.15 * lim)


def fig_forest(comparison, plt, path, shown, colors, glu: Glucose) -> None:
    """A panel per clinical outcome, stacked, with a row per scenario: its difference from the
    baseline with the 95% interval, the numbers at the right; then one panel of the
    sensitivity each mechanism takes (compare's lost_to_* outcomes), a row per mechanism and
    a marker per scenario."""
    outcomes = [str(o) for o in comparison["outcome"].values]
    clinical = [j for j, o in enumerate(outcomes) if not o.startswith(LOST_PREFIX)]
    lost = [j for j, o in enumerate(outcomes) if o.startswith(LOST_PREFIX)]
    b = comparison.attrs["baseline"]
    others = [s for s in shown if s != b]
    names = [str(n) for n in comparison["scenario_name"].values]
    row_in = _row_in([_wrap(f"{s}: {names[s]}", 30) for s in others], 0.38)
    heights = [row_in * len(others) + 0.8] * len(clinical)
    if lost:
        heights.append(0.1 * len(lost) * (len(others) + 2) + 1.0)
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(FIG_W, sum(heights) + 0.8),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    y = np.arange(len(others))[::-1]
    for i, j in enumerate(clinical):
        ax = axes[i, 0]
        v = _forest_values(comparison, j, glu)
        d, lo, hi = (v[k][others] for k in ("difference", "ci_low", "ci_high"))
        for yy, s, dd, ll, hh in zip(y, others, d, lo, hi):
            ax.errorbar(
                dd,
                yy,
                xerr=[[max(dd - ll, 0)], [max(hh - dd, 0)]],
                fmt="o",
                ms=5,
                capsize=3,
                color=colors[s],
                ecolor=colors[s],
            )
            ax.text(
                1.01,
                yy,
                _estimate(dd, ll, hh),
                va="center",
                fontsize=9,
                transform=ax.get_yaxis_transform(),
            )
        ax.axvline(0, color="k", lw=0.8)
        label, units = _forest_label(outcomes[j], str(comparison["outcome_units"].values[j]), glu)
        ax.set_title(f"{label} ({units})", loc="left", fontsize=10)
        ax.set_yticks(y)
        ax.set_yticklabels([_wrap(f"{s}: {names[s]}", 30) for s in others], fontsize=9)
        ax.set_ylim(-0.6, len(others) - 0.4)
        _symmetric_xlim(ax, lo, hi)
        ax.xaxis.set_major_locator(_nice_ticks())
        ax.grid(axis="x", alpha=0.3)
    if lost:
        ax = axes[-1, 0]
        ym = np.arange(len(lost))[::-1]
        step = 0.7 / max(len(others), 1)
        all_lo, all_hi = [], []
        for i, s in enumerate(others):
            off = (i - (len(others) - 1) / 2) * step
            d = np.array([comparison["difference"].values[s, j] for j in lost])
            lo = np.array([comparison["ci_low"].values[s, j] for j in lost])
            hi = np.array([comparison["ci_high"].values[s, j] for j in lost])
            all_lo.append(lo)
            all_hi.append(hi)
            ax.errorbar(
                d,
                ym - off,
                xerr=np.clip([d - lo, hi - d], 0, None),
                fmt="o",
                ms=4,
                capsize=2,
                color=colors[s],
                label=_wrap(f"{s}: {names[s]}", 40),
            )
            if len(others) == 1:
                for yy, dd, ll, hh in zip(ym, d, lo, hi):
                    ax.text(
                        1.01,
                        yy,
                        _estimate(dd, ll, hh),
                        va="center",
                        fontsize=9,
                        transform=ax.get_yaxis_transform(),
                    )
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(ym)
        ax.set_yticklabels(
            [
                _forest_label(outcomes[j], "", glu)[0].replace("sensitivity lost to ", "")
                for j in lost
            ],
            fontsize=9,
        )
        ax.set_ylim(-0.6, len(lost) - 0.4)
        _symmetric_xlim(ax, np.concatenate(all_lo), np.concatenate(all_hi))
        ax.xaxis.set_major_locator(_nice_ticks())
        ax.set_title(
            "sensitivity lost to each mechanism "
            f"({comparison['outcome_units'].values[lost[0]]}; above 0: the scenario loses more)",
            loc="left",
            fontsize=10,
        )
        ax.grid(axis="x", alpha=0.3)
        if len(others) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    title = (
        f"difference from scenario {b} ({_wrap(names[b], 60)}), {comparison.attrs['method']}, "
        "mean with 95% interval"
    )
    _suptitle(fig, title, fontsize=11)
    _tight(fig, 0.3 + 0.2 * title.count("\n"))  # room for the numbers and legend too
    _save(fig, plt, path)


def fig_agp(ds, plt, path, shown, days: slice, colors, glu: Glucose) -> str:
    """Ambulatory glucose profile of the traced patients' CGM (blood glucose where there is
    no CGM trace) over the window, a panel per scenario; returns the source used."""
    var = "cgm" if "cgm" in ds else "bg"
    step = int(ds["time"].values[1] - ds["time"].values[0]) if ds.sizes["time"] > 1 else 5
    per_day = MINUTES_PER_DAY // step
    t0, t1 = days.start * per_day, min(days.stop * per_day, ds.sizes["time"])
    rows, cols = _grid(len(shown), 3 if len(shown) > 4 else 2)
    fig, axes = plt.subplots(
        rows, cols, figsize=(FIG_W, 3.0 * rows + 0.8), squeeze=False, sharey=True, sharex=True
    )
    labels = _scenario_labels(ds)
    hours = (np.arange(per_day) + 0.5) * step / 60.0
    for i, s in enumerate(shown):
        x = ds[var].isel(scenario=s, time=slice(t0, t1)).values.astype(np.float64) * glu.factor
        n_days = x.shape[1] // per_day
        by_tod = x[:, : n_days * per_day].reshape(-1, per_day)
        ax = axes.flat[i]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p = np.nanpercentile(by_tod, [5, 25, 50, 75, 95], axis=0)
        ax.axhspan(70 * glu.factor, 180 * glu.factor, color="#2e9e44", alpha=0.08, lw=0)
        ax.fill_between(hours, p[0], p[4], alpha=0.18, color=colors[s], lw=0, label="5-95%")
        ax.fill_between(hours, p[1], p[3], alpha=0.4, color=colors[s], lw=0, label="25-75%")
        ax.plot(hours, p[2], color=colors[s], lw=1.8, label="median")
        for level, c in ((54, "#8b0000"), (70, "#e03020"), (180, "#e07b00")):
            ax.axhline(level * glu.factor, color=c, lw=0.8, ls="--")
        ax.set_xlim(0, 24)
        ax.set_xticks(range(0, 25, 4))
        ax.set_title(_wrap(labels[s], 40), loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time of day (h)")
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{'CGM' if var == 'cgm' else 'blood'} glucose ({glu.units})")
    axes.flat[0].legend(loc="upper right")
    _suptitle(
        fig,
        f"{ds.sizes['traced']} traced patients, days {days.start}-{days.stop - 1}; dashed: "
        f"{glu.level(54)}, {glu.level(70)} and {glu.level(180)} {glu.units}",
    )
    _tight(fig, 0.45)
    _save(fig, plt, path)
    return var


def fig_distributions(ds, rows: list[Row], plt, path, shown, colors) -> None:
    present = [d for d in DISTRIBUTIONS if f"values:{d[0]}" in rows[0].stats]
    fig, axes = plt.subplots(1, len(present), figsize=(FIG_W, 3.6), squeeze=False)
    labels = _scenario_labels(ds)
    per_scenario = {r.scenario: r for r in rows if r.group == "all"}
    for ax, (var, title, units) in zip(axes[0], present):
        for s in shown:
            x = per_scenario[s].stats[f"values:{var}"]
            if x.size:
                ax.hist(
                    x, bins=40, histtype="step", lw=1.4, color=colors[s], label=_wrap(labels[s], 30)
                )
        ax.set_xlabel(f"{title} ({units})")
        ax.set_ylabel("patients")
    axes[0, -1].legend(fontsize=8)
    _suptitle(fig, "per-patient mean over the window")
    _tight(fig, 0.45)
    _save(fig, plt, path)


# ----------------------------------------------------------------------------- page


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(path: Path, alt: str, caption: str, omitted: str = "") -> str:
    return f"<figure>{_img(path, alt)}<figcaption>{caption}{omitted}</figcaption></figure>"


def _table(header: list[str], body: list[list[str]], numeric_from: int = 1) -> str:
    th = "".join(f"<th>{h}</th>" for h in header)
    out = [f'<div class="wide"><table><tr>{th}</tr>']
    for row in body:
        cells = "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def _num(x, d: int = 1) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:,.{d}f}"


def _ci(m, lo, hi, d: int = 1) -> str:
    if not np.isfinite(m):
        return "-"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _num(m, d)
    return f"{m:,.{d}f} ({lo:,.{d}f} to {hi:,.{d}f})"


def _row_cells(r: Row) -> list[str]:
    return [html.escape(r.label), html.escape(r.group), f"{r.stats['n']:,}"]


def key_outcomes_table(rows: list[Row], glu: Glucose) -> str:
    present = [k for k in KEY_OUTCOMES if f"q:{k[0]}" in rows[0].stats]
    header = ["scenario", "group", "patients", "stopped"] + [
        f"{html.escape(glu.fmt(label))} ({html.escape(units or glu.units)})"
        for _, label, units, _ in present
    ]
    body = []
    for r in rows:
        cells = [*_row_cells(r), f"{r.stats.get('stopped', 0):,}"]
        for v, _, units, d in present:
            f = glu.factor if units is None else 1.0
            q1, med, q3 = (x * f for x in r.stats[f"q:{v}"])
            dd = d + (1 if units is None and glu.mmol else 0)
            cells.append(f"{_num(med, dd)}<br><small>{_num(q1, dd)}-{_num(q3, dd)}</small>")
        body.append(cells)
    return _table(header, body, numeric_from=2)


def tir_table(rows: list[Row], glu: Glucose) -> str:
    names = glu.band_labels()
    header = ["scenario", "group", "patients"] + [f"{n} {glu.units} (%)" for n in names]
    body = [
        [*_row_cells(r), *(_num(x, 1) for x in r.stats["bands"])]
        for r in rows
        if "bands" in r.stats
    ]
    return _table([html.escape(h) for h in header], body, numeric_from=2)


def hypo_table(rows: list[Row], glu: Glucose) -> str:
    hypo = [h for h in HYPO if f"mean:{h[0]}" in rows[0].stats]
    header = ["scenario", "group", "patients"]
    header += [f"{glu.fmt(label)} ({units}), mean (95% CI)" for _, label, _, units in hypo]
    body = []
    for r in rows:
        cells = _row_cells(r)
        for v, _, scale, _ in hypo:
            m, lo, hi = (x * scale for x in r.stats[f"mean:{v}"])
            cells.append(_ci(m, lo, hi, 2))
        body.append(cells)
    return _table([html.escape(h) for h in header], body, numeric_from=2)


def severe_table(rows: list[Row]) -> str:
    severe = [e for e in SEVERE if f"severe:{e[0]}" in rows[0].stats]
    header = ["scenario", "group", "patient-years"]
    header += [f"{label}: events; per 100 patient-years (95% CI)" for _, label in severe]
    body = []
    for r in rows:
        py = r.stats[f"severe:{severe[0][0]}"][1]
        cells = [html.escape(r.label), html.escape(r.group), f"{py:,.1f}"]
        for v, _ in severe:
            k, _, rate, lo, hi = r.stats[f"severe:{v}"]
            cells.append(f"{k:,}; {_ci(rate, lo, hi, 1)}")
        body.append(cells)
    return _table([html.escape(h) for h in header], body, numeric_from=2)


def delivery_rows(ds, days: slice) -> list[tuple[str, str, int, dict]]:
    """Per scenario, and where only some of its patients ran a controller, per those on
    closed loop and the others: (scenario label, who, patients, {variable: mean, low, high})
    of each patient's mean over the window."""
    means = [v for v, *_ in DELIVERY if v in ds]
    labels = _scenario_labels(ds)
    out = []
    for s in range(ds.sizes["scenario"]):
        pp = _per_patient(ds, s, means, [], days, slice(0, days.stop))
        splits = [("all", np.ones(ds.sizes["patient"], bool))]
        users = _aid_users(ds, s, pp)
        if users is not None:
            splits += [("on closed loop", users), ("not on closed loop", ~users)]
        pump = _scenario_trait(ds, "uses_pump", s)
        for who, sel in splits:
            stats = {}
            for v in means:
                x = pp[f"mean:{v}"][sel]
                if v in PUMP_ONLY and pump is not None and not pump[sel].any():
                    stats[v] = (np.nan, np.nan, np.nan)  # nobody here has a pump: not 0 but "-"
                    continue
                stats[v] = _mean_ci(x * 100.0 if v == "set_failures" else x)
            n = int(np.isfinite(pp["mean:tdd"][sel]).sum()) if "mean:tdd" in pp else sel.sum()
            out.append((labels[s], who, int(n), stats))
    return out


def _scenario_trait(ds, name: str, s: int):
    """The per-patient trait `name` in scenario s as a bool array, or None if not stored."""
    if name not in ds:
        return None
    trait = ds[name]
    if "scenario" in trait.dims:
        trait = trait.isel(scenario=s)
    return np.asarray(trait.values) == 1


def _aid_users(ds, s: int, pp: dict):
    """The AID users (trait uses_aid) of scenario s where the controller ran for them only, as
    in a mix of therapies (none of the others has time in closed loop); else None."""
    if "uses_aid" not in ds or "mean:closed_loop_pct" not in pp:
        return None
    users = _scenario_trait(ds, "uses_aid", s)
    if not users.any() or users.all():
        return None
    others = pp["mean:closed_loop_pct"][~users]
    others = others[np.isfinite(others)]
    return users if others.size and (others == 0.0).all() else None


def delivery_table(rows: list[tuple[str, str, int, dict]]) -> str:
    """The delivery rows as a table: mean (95% CI) per column; the device columns only where
    some row has a value other than 0."""

    def shown(v, optional):
        if not optional:
            return True
        return any(np.isfinite(st[v][0]) and st[v][0] != 0.0 for *_, st in rows if v in st)

    cols = [c for c in DELIVERY if c[0] in rows[0][3] and shown(c[0], c[4])]
    header = ["scenario", "who", "patients"] + [
        f"{label} ({units})" for _, label, units, _, _ in cols
    ]
    body = []
    for label, who, n, st in rows:
        cells = [html.escape(label), html.escape(who), f"{n:,}"]
        cells += [_ci(*st[v], d) for v, _, _, d, _ in cols]
        body.append(cells)
    return _table([html.escape(h) for h in header], body, numeric_from=2)


def attribution_table(ds, pop: xr.Dataset) -> str:
    """Per scenario and mechanism: share of the population's loss (%) and percentage points
    lost, each with its 95% interval."""
    mechs = [str(m) for m in ds["mechanism"].values]
    names = _mech_labels(ds)
    descr = (
        [str(x) for x in ds["mechanism_description"].values]
        if "mechanism_description" in ds.coords
        else [""] * len(mechs)
    )
    header = ["scenario", "mechanism", "share of the loss (%)", "sensitivity lost (pp)"]
    body = []
    for s, label in enumerate(_scenario_labels(ds)):
        material = bool(pop["material"].values[s])
        for k, m in enumerate(mechs):
            share = [100 * pop[v].values[s, k] for v in ("share", "share_low", "share_high")]
            lost = [pop[v].values[s, k] for v in ("lost_pp", "lost_pp_low", "lost_pp_high")]
            body.append(
                [
                    html.escape(label) if k == 0 else "",
                    f'<span title="{html.escape(m)}: {html.escape(descr[k])}">'
                    f"{html.escape(names[k])}</span> <small><code>{html.escape(m)}</code>"
                    "</small>",
                    _ci(*share, 1) if material else "- (loss immaterial)",
                    _ci(*lost, 2),
                ]
            )
        total = float(pop["lost_pp_total"].values[s])
        body.append(
            [
                "",
                f"<b>total</b> ({int(pop['n'].values[s]):,} patients)",
                "100",
                f"<b>{total:.2f}</b>",
            ]
        )
    return _table(header, body, numeric_from=2)


def group_attribution_table(ds, by_group: xr.Dataset) -> str:
    names = _mech_labels(ds)
    header = ["scenario", "group", "patients", "total lost"] + [html.escape(n) for n in names]
    body = []
    labels = _scenario_labels(ds)
    for s in range(by_group.sizes["scenario"]):
        for g, gname in enumerate(by_group["group"].values):
            n = int(by_group["n"].values[s, g])
            if n == 0:
                continue
            lost = by_group["lost_pp"].values[s, g]
            half = (
                by_group["lost_pp_high"].values[s, g] - by_group["lost_pp_low"].values[s, g]
            ) / 2
            cells = [
                html.escape(labels[s]),
                html.escape(str(gname)),
                f"{n:,}",
                _num(float(by_group["lost_pp_total"].values[s, g]), 2),
            ]
            cells += [
                f"{v:+.2f}<br><small>&plusmn;{h:.2f}</small>" if np.isfinite(h) else _num(v, 2)
                for v, h in zip(lost, half)
            ]
            body.append(cells)
    return _table(header, body, numeric_from=2)


def comparison_table(comparison, glu: Glucose) -> str:
    b = comparison.attrs["baseline"]
    names = [str(n) for n in comparison["scenario_name"].values]
    header = ["scenario", "outcome", "baseline", "scenario", "difference (95% CI)", "patients"]
    body = []
    for s in range(comparison.sizes["scenario"]):
        if s == b:
            continue
        for j, o in enumerate(comparison["outcome"].values):
            v = _forest_values(comparison, j, glu)
            label, units = _forest_label(str(o), str(comparison["outcome_units"].values[j]), glu)
            unit = (
                glu.units
                if str(o) in GLUCOSE_OUTCOMES
                else "1 = lean healthy"
                if str(o) == "si_peripheral"
                else comparison["outcome_units"].values[j]
            )
            body.append(
                [
                    html.escape(f"{s}: {names[s]}") if j == 0 else "",
                    f"{html.escape(label)} ({html.escape(str(unit))})",
                    f"{v['baseline_mean'][s]:.3f}",
                    f"{v['scenario_mean'][s]:.3f}",
                    f"{v['difference'][s]:+.3f} ({v['ci_low'][s]:+.3f} to {v['ci_high'][s]:+.3f})",
                    f"{int(comparison['n_patients'].values[s, j]):,}",
                ]
            )
    return _table(header, body, numeric_from=2)


def _left_out_note(ds, left_out: list, what: str = "figures") -> str:
    if not left_out:
        return ""
    labels = _scenario_labels(ds)
    names = "; ".join(html.escape(labels[s]) for s in left_out)
    return (
        f'<p class="note">{len(left_out)} of {ds.sizes["scenario"]} scenarios are left out of '
        f"the {what} (at most {FIGURE_SCENARIOS} drawn; every scenario is in the tables): "
        f"{names}.</p>"
    )


def shown_scenarios(n: int, baseline: int) -> tuple[list, list]:
    """(scenarios drawn in figures, scenarios left out): all when n <= FIGURE_SCENARIOS, else
    the baseline and the first others."""
    if n <= FIGURE_SCENARIOS:
        return list(range(n)), []
    shown = [baseline] + [s for s in range(n) if s != baseline][: FIGURE_SCENARIOS - 1]
    shown.sort()
    return shown, [s for s in range(n) if s not in shown]


# ----------------------------------------------------------------------------- render


def return_freed_memory_to_the_os() -> None:
    """Fix glibc's mmap threshold at 128 KiB (its initial value). After a large buffer is
    freed glibc raises the threshold to that size, so the next chunk buffers come from the
    heap and stay in the process when freed: the report's resident memory then grows with the
    number of chunks read, not with their size (measured: +90 MB on a 10^5-patient store).
    For the `t1dmc report` process only (cli.cmd_report); a no-op where libc is not glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD (malloc.h)
    except (OSError, AttributeError):
        pass


def is_t1dmc_report(path) -> bool:
    """A folder `render` wrote: report.html with the engine's generator tag, and nothing but
    it and the figures (no links)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        names = set(os.listdir(path))
        if REPORT_PAGE not in names or not names <= REPORT_FILES:
            return False
        if any((path / n).is_symlink() or not (path / n).is_file() for n in names):
            return False
        with open(path / REPORT_PAGE, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head


def _empty_folder(path: Path) -> bool:
    try:
        return not path.is_symlink() and path.is_dir() and not os.listdir(path)
    except OSError:
        return False


def render(
    store,
    out_dir,
    overwrite: bool = False,
    day: int | None = None,
    window: int = DEFAULT_WINDOW,
    units: str = "mgdl",
    baseline=None,
) -> dict:
    """Write report.html and the PNG figures into the folder `out_dir`; returns what was
    written and the render time. `day` (default the last) and `window` choose the days the
    tables, the comparison and the attribution average over; `units` "mgdl" or "mmol" the
    glucose units shown; `baseline` the scenario compared against (index or name, default 0).
    An existing `out_dir` is replaced only with `overwrite` and when it holds a report of the
    engine's (or nothing); a failed render leaves it as it was."""
    from ..store.storeguard import check_output, refuse_unsafe_target, write_output

    t0 = time.perf_counter()
    if units not in ("mgdl", "mmol"):
        raise ValueError(f"--units {units!r}: mgdl or mmol")
    out_dir = Path(out_dir)
    refuse_unsafe_target(out_dir, "report folder")  # '.', '', /, home, a link: never
    cmp_mod.refuse_output_in_store(out_dir, store, "report folder")

    def owned(p: Path) -> bool:
        return is_t1dmc_report(p) or _empty_folder(p)

    replace = overwrite or _empty_folder(out_dir)  # an empty folder loses nothing
    check_output(out_dir, replace, owned, "report folder", REPORT_FILES)  # before the work
    ds = cmp_mod.open_store(store)
    if "config_toml" not in ds.attrs:
        raise ValueError(f"{str(store)!r} is not a t1dmc results store (no config_toml attribute)")
    incomplete = cmp_mod.incomplete_message(store, ds)
    if incomplete:
        raise ValueError(incomplete + "; a report is made of finished stores only")
    days = cmp_mod.window_days(ds, day, window)  # bad options: refused before anything is written
    b = cmp_mod._baseline_index(ds, baseline)
    built = {}

    def build(tmp: Path) -> None:
        tmp.mkdir()
        built.update(_build(ds, store, tmp, days, Glucose(units == "mmol"), b))

    write_output(out_dir, replace, owned, build, "report folder", REPORT_FILES)
    final = Path(os.path.abspath(out_dir))
    return {
        "files": {k: str(final / name) for k, name in built.items()},
        "render_s": time.perf_counter() - t0,
    }


def _build(ds, store, out_dir: Path, days: slice, glu: Glucose, baseline: int) -> dict:
    """Write the figures and the page into `out_dir`; {key: file name}. Dask reads with at
    most REPORT_THREADS threads: memory is a few stored chunks per thread, whatever the
    machine's cores (a chunk is a task's block of patients, ~10^6 patient-days at most)."""
    import dask

    plt = _plt()
    threads = max(1, min(REPORT_THREADS, os.cpu_count() or 1))
    with plt.rc_context(RC), dask.config.set(scheduler="threads", num_workers=threads):
        return _build_page(ds, store, out_dir, days, glu, baseline, plt)


def _build_page(ds, store, out_dir, days, glu, baseline, plt) -> dict:
    from ..store.results import engine_version

    S = ds.sizes["scenario"]
    first, last = days.start, days.stop - 1
    shown, left_out = shown_scenarios(S, baseline)
    colors = _colors(plt, S)
    groups, group_of = _group_labels(ds)
    rows = collect_rows(ds, days, groups, group_of)
    rows_shown = [r for r in rows if r.scenario in shown]
    files = {}

    def path(name):
        files[name] = out_dir / f"{name}.png"
        return files[name]

    note = _left_out_note(ds, left_out)
    omitted = (
        f" <b>{len(shown)} of {S} scenarios drawn</b> (the others: see the note at the top)."
        if left_out
        else ""
    )
    title = html.escape(str(ds.attrs.get("title", "t1dmc run")))
    window_text = f"days {first}-{last} (day 0 is the first; {last - first + 1} days)"
    sections = [
        f"<h1>{title}</h1>",
        f"<p>Store <code>{html.escape(str(store))}</code>; engine "
        f"{html.escape(str(ds.attrs.get('engine_version')))}; created "
        f"{html.escape(str(ds.attrs.get('created')))}; seed "
        f"{html.escape(str(ds.attrs.get('seed')))}; "
        f"{S} scenario(s) x {ds.sizes['patient']:,} patients x {ds.sizes['day']:,} days. "
        f"Tables, comparison and attribution: per-patient means over {window_text}. Glucose in "
        f"{glu.units}. Age groups: {', '.join(groups) or 'none recorded'}.</p>",
        note,
        "<h2>Key outcomes</h2>",
        f"<p>Median and interquartile range over patients of each patient's mean over "
        f"{window_text}. <i>stopped</i>: patients whose integration failed by day {last} "
        "(their later days are missing and left out).</p>",
        key_outcomes_table(rows, glu),
    ]
    if any("bands" in r.stats for r in rows):
        fig_time_in_ranges(rows_shown, plt, path("time_in_ranges"), glu)
        sections += [
            "<h2>Time in ranges</h2>",
            _figure(
                files["time_in_ranges"],
                "time in ranges",
                f"Mean share of time in each glucose range ({glu.units}) over patients, "
                f"{window_text}, per scenario and age group (blood glucose at every minute).",
                omitted,
            ),
            tir_table(rows, glu),
        ]
    has_hypo = any(f"mean:{h[0]}" in rows[0].stats for h in HYPO)
    has_severe = any(f"severe:{e[0]}" in rows[0].stats for e in SEVERE)
    if has_hypo or has_severe:
        sections.append("<h2>Hypoglycaemia and severe events</h2>")
    if has_hypo:
        fig_hypoglycaemia(rows_shown, plt, path("hypoglycaemia"), glu)
        sections.append(
            _figure(
                files["hypoglycaemia"],
                "hypoglycaemia",
                f"Time below range and hypoglycaemia events (at least 15 min below "
                f"{glu.level(70)} {glu.units}) per patient-week, {window_text}: mean over "
                "patients with its 95% interval.",
                omitted,
            )
        )
        sections.append(hypo_table(rows, glu))
    if has_severe:
        fig_severe(rows_shown, plt, path("severe_events"), (0, last))
        sections.append(
            _figure(
                files["severe_events"],
                "severe events",
                f"Severe events per 100 patient-years over days 0-{last} (the whole run to the "
                "window's end: these events are rare), with exact 95% Poisson intervals; "
                "patient-years count the days each patient was simulated.",
                omitted,
            )
        )
        sections.append(severe_table(rows))
    if all(v in ds for v in ("tdd", "basal_u", "bolus_u")):
        sections += [
            "<h2>Insulin delivery and the pump</h2>",
            f"<p>Each patient's mean over {window_text}; in each cell the mean over patients "
            "and its 95% interval. Where only some patients of a scenario ran a controller "
            "(AID users in a mix of therapies, cohort.aid_share), they and the others have rows "
            "of their own. Device columns appear where a scenario modelled the pump as a "
            "device; the controller's sensitivity ratio is its own estimate (oref's "
            "autosens), beside the model's s_p.</p>",
            delivery_table(delivery_rows(ds, days)),
        ]
    if "log_phi" in ds or "ir_share" in ds:
        sections += _attribution_sections(ds, plt, path, files, days, shown, window_text, omitted)
    if S > 1:
        comparison = cmp_mod.compare(ds, baseline=baseline, day=last, window=last - first + 1)
        fig_forest(comparison, plt, path("forest"), shown, colors, glu)
        sections += [
            "<h2>Scenario comparison</h2>",
            "<p>"
            + html.escape(
                f"differences from scenario {comparison.attrs['baseline']} "
                f"({comparison.attrs['baseline_name']}), days {comparison.attrs['first_day']}-"
                f"{comparison.attrs['last_day']}, {comparison.attrs['method']}, 95% interval. "
            )
            + html.escape(cmp_mod.n_line(comparison)).replace("\n", "<br>")
            + "</p>",
            _figure(
                files["forest"],
                "forest plot",
                "Each scenario's mean difference from the baseline in each patient's mean over "
                "the window, with its 95% interval (numbers at the right).",
                omitted,
            ),
            comparison_table(comparison, glu),
        ]
    if ds.sizes.get("traced", 0) > 0 and ds.sizes.get("time", 0) > 0:
        src = fig_agp(ds, plt, path("agp"), shown, days, colors, glu)
        sections += [
            "<h2>Ambulatory glucose profile</h2>",
            _figure(
                files["agp"],
                "ambulatory glucose profile",
                f"{'CGM readings' if src == 'cgm' else 'Blood glucose'} of the "
                f"{ds.sizes['traced']} traced patients over {window_text}, by time of day: "
                "median, interquartile range and 5th-95th percentiles; green band: "
                f"{glu.level(70)}-{glu.level(180)} {glu.units}.",
                omitted,
            ),
        ]
    fig_trajectories(ds, plt, path("trajectories"), shown, days, colors, glu)
    sections += [
        "<h2>Trajectories over the run</h2>",
        _figure(
            files["trajectories"],
            "trajectories",
            "Median and interquartile range over patients on each day of the run, per "
            f"scenario (percentiles from per-day histograms, to within 1/{HIST_BINS} of the "
            "range).",
            omitted,
        ),
    ]
    if any(f"values:{d[0]}" in rows[0].stats for d in DISTRIBUTIONS):
        fig_distributions(ds, rows, plt, path("distributions"), shown, colors)
        sections += [
            "<h2>Distributions</h2>",
            _figure(
                files["distributions"],
                "distributions",
                f"Per-patient means over {window_text}, over patients.",
                omitted,
            ),
        ]
    sections += [
        "<h2>Config</h2>",
        "<details><summary>the full validated config of the run (TOML)</summary>"
        f"<pre>{html.escape(ds.attrs['config_toml'])}</pre></details>",
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f'{GENERATOR} {html.escape(engine_version())}">'  # is_t1dmc_report's mark
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<link rel='icon' href='data:,'>"
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        + "\n".join(s for s in sections if s)
        + "</body></html>"
    )
    files["html"] = out_dir / REPORT_PAGE
    files["html"].write_text(page, encoding="utf-8")
    return {k: v.name for k, v in files.items()}


def _attribution_sections(ds, plt, path, files, days, shown, window_text, omitted) -> list[str]:
    last, n_days = days.stop - 1, days.stop - days.start
    S = ds.sizes["scenario"]
    pop = xr.concat(  # a scenario at a time: (patient, mechanism) in memory, not more
        [
            attribution.population_shares(ds.isel(scenario=[s]), day=last, window=n_days)
            for s in range(S)
        ],
        dim="scenario",
    )
    by_group = None
    if len(_group_labels(ds)[0]) > 1:  # one age group: its rows would repeat "all"
        parts = [
            attribution.population_shares(
                ds.isel(scenario=[s]), day=last, window=n_days, by="group"
            )
            for s in range(S)
        ]
        by_group = xr.concat(parts, dim="scenario", join="outer", fill_value={"n": 0})
        order = [g for g in GROUP_ORDER if g in by_group["group"].values]
        order += sorted(set(by_group["group"].values.tolist()) - set(order))
        by_group = by_group.sel(group=order)
    shares = attribution.shares_over_time(ds.isel(scenario=shown)).values
    full = np.full((S, *shares.shape[1:]), np.nan)
    full[shown] = shares
    fig_attribution(ds, plt, path("attribution"), full, shown, days)
    fig_loss_by_cause(ds, plt, path("loss_by_cause"), pop, shown)
    fig_loss_by_group(ds, plt, path("loss_by_group"), pop, by_group, shown)
    material = float(attribution.MATERIAL_LOG_SP)
    out = [
        "<h2>What makes patients resistant</h2>",
        "<p>Peripheral insulin sensitivity s_p is a product of one factor per mechanism, so "
        "log s_p is the sum of the mechanisms' log factors. A mechanism's share of the "
        "population's loss is the sum over patients of its log factor divided by the sum of "
        "log s_p (a ratio of sums, with a 95% interval by the delta method over patients): "
        "the shares add up to 100%. Negative shares and negative points are protective "
        f"(exercise). Shares are not given where the population lost less than "
        f"{100 * (1 - math.exp(-material)):.0f}% of its sensitivity.</p>",
        _figure(
            files["attribution"],
            "attribution over time",
            "Each day's population shares of the loss of sensitivity, stacked (above 0: the "
            "mechanisms that cost sensitivity, below: those that protect; they add up to 100%, "
            "dotted). Grey: the window of the tables.",
            omitted,
        ),
        f"<p>Over {window_text}, per scenario:</p>",
        attribution_table(ds, pop),
        _figure(
            files["loss_by_cause"],
            "sensitivity lost, by cause",
            "Sensitivity lost, by cause: percentage points of the lean healthy reference's "
            "sensitivity lost by the geometric-mean patient, split between the mechanisms in "
            "proportion to their log factors (red: lost, green: regained; they add up to the "
            "total in grey), with 95% intervals.",
            omitted,
        ),
        _figure(
            files["loss_by_group"],
            "sensitivity lost, by age group",
            ("The same split per age group" if by_group is not None else "The same split")
            + ", stacked: points lost to each mechanism to the right of 0, points regained to "
            "the left; the diamond is the total lost.",
            omitted,
        ),
    ]
    if by_group is not None:
        out += [
            "<p>By age group, percentage points lost (&plusmn; half the 95% interval):</p>",
            group_attribution_table(ds, by_group),
        ]
    return out
