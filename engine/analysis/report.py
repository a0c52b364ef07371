"""`t1dmc report STORE -o DIR`: one self-contained HTML page (figures embedded) plus the PNG
figures, from a results store.

Figures: population trajectories (median and interquartile band over patients, per scenario)
of peripheral sensitivity, dose per kg, weight, HbA1c and TIR; the mechanism attribution as
stacked shares over time; the scenario comparison as a forest plot of paired differences with
95% intervals; an ambulatory glucose profile of the traced patients; final-day distributions
of eGDR and dose per kg. Reductions are done by xarray (dask) one variable at a time, so a
store of any size is read once per variable.

The report is built in a temporary folder beside DIR and moved into place when whole
(storeguard.write_output): an existing DIR is replaced only with --overwrite and only when it
is a report the engine wrote (`is_t1dmc_report`) or an empty folder.
"""

import base64
import html
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

from ..model.params import MINUTES_PER_DAY
from . import compare as cmp_mod

TRAJECTORIES = (
    ("si_peripheral", "peripheral sensitivity s_p", "1 = lean healthy"),
    ("tdd_per_kg", "total daily dose", "U/kg/day"),
    ("weight_kg", "body weight", "kg"),
    ("hba1c", "HbA1c", "%"),
    ("tir", "time in range 70-180", "%"),
)
MAX_PANELS = 4
FIGURES = ("trajectories", "attribution", "forest", "agp", "final_day")
REPORT_PAGE = "report.html"
REPORT_FILES = frozenset({REPORT_PAGE, *(f"{name}.png" for name in FIGURES)})
GENERATOR = '<meta name="generator" content="t1dmc'
STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:auto} img{max-width:100%} "
    "table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ccc;"
    "padding:2px 6px}"
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scenario_labels(ds):
    return [f"{s}: {n}" for s, n in zip(ds["scenario"].values, ds["scenario_name"].values)]


def _quartiles_by_day(da: xr.DataArray) -> np.ndarray:
    """(3, scenario, day): 25th, 50th, 75th percentile over patients (NaN-aware)."""
    values = da.values.astype(np.float64)  # (scenario, patient, day)
    with np.errstate(all="ignore"):
        return np.nanpercentile(values, [25, 50, 75], axis=1)


def fig_trajectories(ds, plt, path):
    present = [t for t in TRAJECTORIES if t[0] in ds]
    fig, axes = plt.subplots(
        len(present), 1, figsize=(8, 2.3 * len(present)), sharex=True, squeeze=False
    )
    days = ds["day"].values
    labels = _scenario_labels(ds)
    for ax, (var, title, units) in zip(axes[:, 0], present):
        q = _quartiles_by_day(ds[var])
        for s in range(ds.sizes["scenario"]):
            (line,) = ax.plot(days, q[1, s], lw=1.5, label=labels[s])
            ax.fill_between(days, q[0, s], q[2, s], color=line.get_color(), alpha=0.2, lw=0)
        ax.set_ylabel(units)
        ax.set_title(title, fontsize=10, loc="left")
    axes[-1, 0].set_xlabel("day")
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle("median and interquartile range over patients", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mean_shares(ds) -> np.ndarray:
    """(scenario, day, mechanism): mean ir_share over patients."""
    with np.errstate(all="ignore"):
        return np.nanmean(ds["ir_share"].values.astype(np.float64), axis=1)


def fig_attribution(ds, plt, path, shares):
    S = min(ds.sizes["scenario"], MAX_PANELS)
    fig, axes = plt.subplots(S, 1, figsize=(8, 2.6 * S), sharex=True, squeeze=False)
    days = ds["day"].values
    colors = plt.get_cmap("tab10").colors
    names = list(ds["mechanism"].values)
    labels = _scenario_labels(ds)
    for s in range(S):
        ax = axes[s, 0]
        sh = np.nan_to_num(shares[s])
        pos = np.clip(sh, 0, None).T
        neg = np.clip(sh, None, 0).T
        ax.stackplot(days, pos, colors=colors[: len(names)], labels=names)
        ax.stackplot(days, neg, colors=colors[: len(names)])
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("share of log s_p")
        ax.set_title(labels[s], fontsize=10, loc="left")
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 1.45))
    axes[-1, 0].set_xlabel("day")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_forest(comparison, plt, path):
    outcomes = list(comparison["outcome"].values)
    b = comparison.attrs["baseline"]
    others = [s for s in range(comparison.sizes["scenario"]) if s != b]
    fig, axes = plt.subplots(
        1, len(outcomes), figsize=(2.4 * len(outcomes), 0.5 * len(others) + 1.6), squeeze=False
    )
    names = [str(n) for n in comparison["scenario_name"].values]
    for j, o in enumerate(outcomes):
        ax = axes[0, j]
        y = np.arange(len(others))
        d = comparison["difference"].values[others, j]
        lo = comparison["ci_low"].values[others, j]
        hi = comparison["ci_high"].values[others, j]
        ax.errorbar(d, y, xerr=[d - lo, hi - d], fmt="o", ms=4, capsize=3)
        ax.axvline(0, color="k", lw=0.6)
        ax.set_title(f"{o} ({comparison['outcome_units'].values[j]})", fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels([names[s] for s in others] if j == 0 else [], fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle(
        f"difference from scenario {b} ({names[b]}), {comparison.attrs['method']}, 95% interval",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_agp(ds, plt, path):
    S = min(ds.sizes["scenario"], MAX_PANELS)
    step = int(ds["time"].values[1] - ds["time"].values[0]) if ds.sizes["time"] > 1 else 5
    per_day = MINUTES_PER_DAY // step
    fig, axes = plt.subplots(1, S, figsize=(4.2 * S, 3.2), squeeze=False, sharey=True)
    labels = _scenario_labels(ds)
    hours = np.arange(per_day) * step / 60.0
    for s in range(S):
        bg = ds["bg"].isel(scenario=s).values.astype(np.float64)  # (traced, time)
        n_days = bg.shape[1] // per_day
        by_tod = bg[:, : n_days * per_day].reshape(bg.shape[0], n_days, per_day)
        by_tod = by_tod.reshape(-1, per_day)
        with np.errstate(all="ignore"):
            p = np.nanpercentile(by_tod, [5, 25, 50, 75, 95], axis=0)
        ax = axes[0, s]
        ax.fill_between(hours, p[0], p[4], alpha=0.15, color="C0", lw=0, label="5-95%")
        ax.fill_between(hours, p[1], p[3], alpha=0.35, color="C0", lw=0, label="25-75%")
        ax.plot(hours, p[2], color="C0", lw=1.5, label="median")
        for level in (70, 180):
            ax.axhline(level, color="C3" if level == 70 else "C1", lw=0.7, ls="--")
        ax.set_xlim(0, 24)
        ax.set_xticks(range(0, 25, 4))
        ax.set_xlabel("time of day (h)")
        ax.set_title(labels[s], fontsize=9, loc="left")
    axes[0, 0].set_ylabel("blood glucose (mg/dL)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"ambulatory glucose profile: {ds.sizes['traced']} traced patients", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def fig_final_day(ds, plt, path):
    present = [v for v in ("egdr", "tdd_per_kg") if v in ds]
    fig, axes = plt.subplots(1, len(present), figsize=(5 * len(present), 3.2), squeeze=False)
    labels = _scenario_labels(ds)
    for ax, var in zip(axes[0], present):
        last = ds[var].isel(day=-1).values
        for s in range(ds.sizes["scenario"]):
            x = last[s][np.isfinite(last[s])]
            if x.size:
                ax.hist(x, bins=40, histtype="step", lw=1.3, label=labels[s])
        ax.set_xlabel(f"{var} ({ds[var].attrs.get('units', '')})")
        ax.set_ylabel("patients")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("final day, over patients", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{path.stem}">'


def _share_table(ds, shares) -> str:
    rows = [
        "<table><tr><th>scenario</th>"
        + "".join(f"<th>{html.escape(m)}</th>" for m in ds["mechanism"].values)
        + "</tr>"
    ]
    for s, label in enumerate(_scenario_labels(ds)):
        cells = "".join(
            f"<td>{100 * v:.1f}%</td>" if np.isfinite(v) else "<td>-</td>" for v in shares[s, -1]
        )
        rows.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
    return "\n".join(rows) + "</table>"


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


def render(store, out_dir, overwrite: bool = False) -> dict:
    """Write report.html and the PNG figures into the folder `out_dir`; returns what was
    written and the render time. An existing `out_dir` is replaced only with `overwrite` and
    when it holds a report of the engine's (or nothing); a failed render leaves it as it was."""
    from ..store.storeguard import check_output, refuse_unsafe_target, write_output

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    refuse_unsafe_target(out_dir, "report folder")  # '.', '', /, home, a link: never
    cmp_mod.refuse_output_in_store(out_dir, store, "report folder")

    def owned(p: Path) -> bool:
        return is_t1dmc_report(p) or _empty_folder(p)

    replace = overwrite or _empty_folder(out_dir)  # an empty folder loses nothing
    check_output(out_dir, replace, owned, "report folder")  # before the work
    ds = cmp_mod.open_store(store)
    if "config_toml" not in ds.attrs:
        raise ValueError(f"{str(store)!r} is not a t1dmc results store (no config_toml attribute)")
    incomplete = cmp_mod.incomplete_message(store, ds)
    if incomplete:
        raise ValueError(incomplete + "; a report is made of finished stores only")
    built = {}

    def build(tmp: Path) -> None:
        tmp.mkdir()
        built.update(_build(ds, store, tmp))

    write_output(out_dir, replace, owned, build, "report folder")
    final = Path(os.path.abspath(out_dir))
    return {
        "files": {k: str(final / name) for k, name in built.items()},
        "render_s": time.perf_counter() - t0,
    }


def _build(ds, store, out_dir: Path) -> dict:
    """Write the figures and the page into `out_dir`; {key: file name}."""
    from ..batch.sweep import summary_table
    from ..store.results import engine_version

    plt = _plt()
    files = {}
    files["trajectories"] = out_dir / "trajectories.png"
    fig_trajectories(ds, plt, files["trajectories"])
    shares = None
    if "ir_share" in ds:
        shares = mean_shares(ds)
        files["attribution"] = out_dir / "attribution.png"
        fig_attribution(ds, plt, files["attribution"], shares)
    comparison = None
    if ds.sizes["scenario"] > 1:
        comparison = cmp_mod.compare(ds)
        files["forest"] = out_dir / "forest.png"
        fig_forest(comparison, plt, files["forest"])
    if ds.sizes.get("traced", 0) > 0:
        files["agp"] = out_dir / "agp.png"
        fig_agp(ds, plt, files["agp"])
    files["final_day"] = out_dir / "final_day.png"
    fig_final_day(ds, plt, files["final_day"])
    title = html.escape(str(ds.attrs.get("title", "t1dmc run")))
    sections = [
        f"<h1>{title}</h1>",
        f"<p>store <code>{html.escape(str(store))}</code>; engine {ds.attrs.get('engine_version')}"
        f"; created {ds.attrs.get('created')}; seed {ds.attrs.get('seed')}; "
        f"{ds.sizes['scenario']} scenario(s) x {ds.sizes['patient']:,} patients x "
        f"{ds.sizes['day']:,} days</p>",
        "<h2>Summary</h2>",
        f"<pre>{html.escape(summary_table(ds))}</pre>",
        "<h2>Trajectories</h2>",
        _img(files["trajectories"]),
    ]
    if shares is not None:
        sections += [
            "<h2>What makes patients resistant</h2>",
            "<p>Mean share of log s_p explained by each mechanism, over patients "
            "(negative: protective). Final day:</p>",
            _share_table(ds, shares),
            _img(files["attribution"]),
        ]
    if comparison is not None:
        sections += [
            "<h2>Scenario comparison</h2>",
            _img(files["forest"]),
            f"<pre>{html.escape(cmp_mod.format_table(comparison))}</pre>",
        ]
    if "agp" in files:
        sections += ["<h2>Ambulatory glucose profile</h2>", _img(files["agp"])]
    sections += [
        "<h2>Final day</h2>",
        _img(files["final_day"]),
        "<h2>Config</h2>",
        f"<pre>{html.escape(ds.attrs['config_toml'])}</pre>",
    ]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f'{GENERATOR} {html.escape(engine_version())}">'  # is_t1dmc_report's mark
        f"<title>{title}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    files["html"] = out_dir / REPORT_PAGE
    files["html"].write_text(page, encoding="utf-8")
    return {k: v.name for k, v in files.items()}
