"""`t1dmc` command line: run a population, compare scenarios, inspect a store, check a config,
validate against the calibration targets, replay a reference patient.

Exit status: 0 done; 2 bad input (config, arguments, existing output), nothing written;
`validate` exits 1 when a calibration target is missed.
"""
import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def _fail(msg: str) -> int:
    print(f"t1dmc: error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_run(args) -> int:
    from pydantic import ValidationError
    from .config import ConfigError, load_config
    from . import results, sweep
    if args.resume and args.overwrite:
        return _fail("--resume and --overwrite exclude each other")
    try:
        cfg = load_config(args.config)
        if args.block_size is not None:
            cfg.execution.block_size = args.block_size
        if args.backend is not None:
            cfg.execution.backend = args.backend
    except ConfigError as err:
        return _fail(str(err))
    except ValidationError as err:  # a command-line override out of bounds
        return _fail(f"--block-size {args.block_size}: {err.errors()[0]['msg']}")
    try:
        # validates every scenario and the output before it writes anything
        facts = sweep.run(cfg, Path(args.output), overwrite=args.overwrite, resume=args.resume,
                          workers=args.workers, scheduler=args.scheduler, quiet=args.quiet)
    except (ConfigError, FileExistsError) as err:
        return _fail(str(err))
    except OSError as err:
        # unwritable folder, full disk: blocks already written stay marked complete, the
        # failed one is not, so --resume finishes the run once the cause is fixed
        where = err.filename or args.output
        return _fail(f"cannot write {str(where)!r}: {err.strerror or err}; fix it and rerun "
                     f"(with --resume if {args.output!r} was created)")
    ds = results.open_results(args.output)
    print(sweep.summary_table(ds))
    print(f"{facts['patient_days']:,} patient-days in {facts['wall_s']:.1f} s "
          f"({facts['patient_days_per_s']:,.0f} patient-days/s, {facts['tasks']} tasks, "
          f"{facts['workers']} workers) -> {args.output}")
    return 0


def _read_inputs_csv(path: str):
    import pandas as pd
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path!r}: {err}") from None
    need = ("carbs_g_per_min", "insulin_u_per_min")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; the CSV needs "
                         f"columns {', '.join(need)} (one row per minute)")
    for c in need:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{path}: column {c} is not numeric")
    return df[need[0]].to_numpy(float), df[need[1]].to_numpy(float)


def cmd_replay(args) -> int:
    from .reference_replay import replay
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        return _fail(f"output {str(out)!r} exists; pass --overwrite to replace it")
    try:
        carbs, insulin = _read_inputs_csv(args.inputs)
        ds = replay(args.patient, carbs, insulin)
    except (ValueError, KeyError) as err:
        return _fail(str(err).strip('"'))
    if out.suffix == ".zarr":
        ds.to_zarr(out, mode="w", zarr_format=3, consolidated=True)
    else:
        ds.to_dataframe().to_csv(out)
    print(f"replayed {args.patient} for {ds.sizes['minute'] - 1} minutes: bg "
          f"{float(ds.bg.min()):.1f}-{float(ds.bg.max()):.1f} mg/dL -> {out}")
    return 0


def cmd_compare(args) -> int:
    import json
    import xarray as xr
    from .compare import compare, format_table, to_json
    try:
        ds = xr.open_zarr(args.store)
    except Exception as err:  # noqa: BLE001 - unreadable for whatever reason
        return _fail(f"cannot open {args.store!r} as a results store: {err}")
    try:
        cmp = compare(ds, baseline=args.baseline, day=args.day, window=args.window)
    except ValueError as err:
        return _fail(str(err))
    if args.output:
        out = Path(args.output)
        if out.exists() and not args.overwrite:
            return _fail(f"output {str(out)!r} exists; pass --overwrite to replace it")
        if out.suffix == ".json":
            out.write_text(json.dumps(to_json(cmp), indent=2))
        else:
            cmp.to_zarr(out, mode="w", zarr_format=3, consolidated=False)
    print(json.dumps(to_json(cmp), indent=2) if args.json else format_table(cmp))
    return 0


def cmd_inspect(args) -> int:
    from .results import inspect_store
    try:
        print(inspect_store(Path(args.store)))
    except ValueError as err:
        return _fail(str(err))
    return 0


def cmd_config_schema(args) -> int:
    import json
    from .config import RunConfig
    print(json.dumps(RunConfig.model_json_schema(), indent=2))
    return 0


def cmd_config_check(args) -> int:
    from .config import ConfigError, load_config
    from .scenarios import expand
    try:
        cfg = load_config(args.config)
        scenarios = expand(cfg)
    except ConfigError as err:
        return _fail(str(err))
    print(f"{args.config}: valid; {len(scenarios)} scenario(s) x {cfg.run.n_patients} patients "
          f"x {cfg.run.days} days = {len(scenarios) * cfg.run.n_patients * cfg.run.days:,} "
          f"patient-days in tasks of {cfg.block_size()} patients")
    return 0


def cmd_report(args) -> int:
    from . import report
    try:
        facts = report.render(args.store, args.output, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as err:
        return _fail(str(err))
    print(f"report: {facts['files']['html']} ({len(facts['files']) - 1} figures) in "
          f"{facts['render_s']:.1f} s")
    return 0


def cmd_validate(args) -> int:
    from . import validate
    if args.patients < 10:
        return _fail(f"--patients {args.patients}: at least 10 are needed for an interval")
    if not 0.5 <= args.years <= 20:
        return _fail(f"--years {args.years}: between 0.5 and 20")
    rows = validate.validate(n=args.patients, seed=args.seed, years=args.years)
    print(validate.to_json(rows) if args.json else validate.table(rows))
    return 0 if all(r.passed for r in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t1dmc", description=(
        "Population Monte Carlo engine for type 1 diabetes (UVA/Padova S2008 physiology)."))
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a population from a TOML config into a zarr store")
    r.add_argument("config", help="TOML config (see configs/quickstart.toml)")
    r.add_argument("-o", "--output", required=True, help="zarr store to create (OUT.zarr)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output")
    r.add_argument("--resume", action="store_true",
                   help="finish an interrupted run: compute only the missing tasks")
    r.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    r.add_argument("--scheduler", default=None,
                   help="address of an existing dask scheduler, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--block-size", type=int, default=None, help="patients per task")
    r.add_argument("--backend", choices=("cpu", "cuda"), default=None,
                   help="cpu (default) or cuda: the population kernel on an NVIDIA GPU")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compare", help="paired differences of key outcomes between scenarios")
    c.add_argument("store", help="results store (OUT.zarr)")
    c.add_argument("--baseline", default=None, help="scenario index or name (default 0)")
    c.add_argument("--day", type=int, default=None, help="last day of the window (default last)")
    c.add_argument("--window", type=int, default=14, help="days averaged per patient (14)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("-o", "--output", default=None, help="also save as .json or .zarr")
    c.add_argument("--overwrite", action="store_true", help="replace an existing output")
    c.set_defaults(func=cmd_compare)

    i = sub.add_parser("inspect", help="a store's config, dimensions, scenarios and completion")
    i.add_argument("store", help="results store (OUT.zarr)")
    i.set_defaults(func=cmd_inspect)

    cf = sub.add_parser("config", help="the config schema, or check a config file")
    cfs = cf.add_subparsers(dest="config_command", required=True)
    cfs.add_parser("schema", help="print the JSON schema of a config").set_defaults(
        func=cmd_config_schema)
    chk = cfs.add_parser("check", help="validate a config and its sweep without running it")
    chk.add_argument("config", help="TOML config")
    chk.set_defaults(func=cmd_config_check)

    rpt = sub.add_parser("report", help="an HTML page and PNG figures from a results store")
    rpt.add_argument("store", help="results store (OUT.zarr)")
    rpt.add_argument("-o", "--output", required=True, help="folder for report.html and figures")
    rpt.add_argument("--overwrite", action="store_true", help="replace an existing report")
    rpt.set_defaults(func=cmd_report)

    v = sub.add_parser("validate", help=(
        "simulate the calibration targets of MODEL.md section 6 and compare (exit 1 if any "
        "target is missed)"))
    v.add_argument("--patients", type=int, default=200, help="patients per scenario (200)")
    v.add_argument("--years", type=float, default=6.0, help="length of the DCCT-like arm (6)")
    v.add_argument("--seed", type=int, default=20261127, help="random-number seed")
    v.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v.set_defaults(func=cmd_validate)

    rp = sub.add_parser("replay", help="drive one reference patient with per-minute inputs")
    rp.add_argument("patient", help='reference patient, e.g. "adolescent#001"')
    rp.add_argument("inputs", help="CSV with columns carbs_g_per_min, insulin_u_per_min")
    rp.add_argument("-o", "--output", required=True, help="output .csv or .zarr")
    rp.add_argument("--overwrite", action="store_true", help="replace an existing output")
    rp.set_defaults(func=cmd_replay)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
