"""`t1dmc` command line: run a population, compare scenarios, inspect a store, check a config,
export a store as a table, validate against the calibration targets, replay a reference
patient.

Exit status: 0 done; 2 bad input (config, arguments, existing output), nothing written;
`validate` exits 1 when a calibration target is missed.
"""

import argparse
import sys
from pathlib import Path

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for a Ctrl-C (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the shell's code for a reader gone away (128 + SIGPIPE)


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"t1dmc: error: {msg}", file=sys.stderr)
    return code


def cmd_run(args) -> int:
    from pydantic import ValidationError

    from .batch import sweep
    from .batch.config import ConfigError, load_config
    from .batch.plugins import PluginFailed
    from .store import results
    from .store.integrity import StoreDamaged
    from .store.storeguard import UnsafeOutput

    if args.resume and args.overwrite:
        return _fail("--resume and --overwrite exclude each other")
    if args.repair and not args.resume:
        return _fail("--repair needs --resume: it recomputes the damaged parts of a store")
    try:
        cfg = load_config(args.config, args.set)
        if args.block_size is not None:
            cfg.execution.block_size = args.block_size
        if args.backend is not None:
            cfg.execution.backend = args.backend
    except ConfigError as err:
        return _fail(str(err))
    except ValidationError as err:  # a command-line override out of bounds
        return _fail(f"--block-size {args.block_size}: {err.errors()[0]['msg']}")
    for warning in _inert_warnings(cfg, args):
        print(f"t1dmc: warning: {warning}", file=sys.stderr)
    try:
        # validates every scenario, memory, the scheduler and the output before writing
        facts = sweep.run(
            cfg,
            Path(args.output),
            overwrite=args.overwrite,
            resume=args.resume,
            workers=args.workers,
            scheduler=args.scheduler,
            quiet=args.quiet,
            repair=args.repair,
            lock=not args.no_lock,
            connect_timeout_s=args.connect_timeout,
        )
    except (ConfigError, FileExistsError, UnsafeOutput) as err:
        return _fail(str(err))
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except PluginFailed as err:
        return _fail(
            f"{err}; the tasks already written are kept: fix the plug-in and start again "
            f"with --overwrite (a changed plug-in cannot --resume {args.output!r})",
            EXIT_RUN_FAILED,
        )
    except OSError as err:
        # unwritable folder, full disk: blocks already written stay marked complete, the
        # failed one is not, so --resume finishes the run once the cause is fixed
        where = err.filename or args.output
        return _fail(
            f"cannot write {str(where)!r}: {err.strerror or err}; fix it and rerun "
            f"(with --resume if {args.output!r} was created)",
            EXIT_RUN_FAILED,
        )
    except KeyboardInterrupt as err:
        print(_interrupted_line(args, err), file=sys.stderr)
        if getattr(err, "running", 0):
            # the running tasks' threads cannot be stopped (compiled code), and the
            # interpreter would wait for them at exit: the program ends without them (main)
            _ABANDON_THREADS[0] = True
        return EXIT_INTERRUPTED
    ds = results.open_results(args.output)
    print(sweep.summary_table(ds, mmol=args.units == "mmol"))
    print(_timing_line(facts, args.output))
    return 0


def _timing_line(facts: dict, output) -> str:
    """The run's last line: patient-days, wall time and, apart, the kernels' compile time
    (the throughput leaves it out)."""
    compile_s, wall_s = facts.get("compile_s", 0.0), facts["wall_s"]
    if facts.get("compiled"):
        when = "every run with a plug-in" if facts.get("compiles_every_run") else "first run only"
        kernels = f"{compile_s:.1f} s compiling the kernels ({when})"
    elif facts.get("compiled") is None:
        kernels = f"{compile_s:.1f} s preparing the kernels on the workers"
    else:
        kernels = f"{compile_s:.1f} s loading the compiled kernels"
    workers = f"{facts['workers']} worker{'s' if facts['workers'] != 1 else ''}"
    return (
        f"{facts['patient_days']:,} patient-days in {wall_s:.1f} s: {kernels}, "
        f"{wall_s - compile_s:.1f} s simulating and writing "
        f"({facts['patient_days_per_s']:,.0f} patient-days/s, {facts['tasks']} "
        f"task{'s' if facts['tasks'] != 1 else ''}, "
        f"{workers}) -> {output}"
    )


def _inert_warnings(cfg, args) -> list[str]:
    """Swept, --set and (under a swept preset) file fields that have no effect
    (engine/batch/inert.py); none when the sweep does not expand (the run says why)."""
    from .batch import inert
    from .batch.config import ConfigError, read_config_dict
    from .batch.scenarios import expand

    try:
        scenarios = expand(cfg)
        file_data = read_config_dict(args.config)
    except ConfigError:
        return []
    return inert.warnings(cfg, scenarios, inert.set_paths(args.set), file_data)


# set by cmd_run when an interrupt leaves tasks running in this process's threads
_ABANDON_THREADS = [False]


def _interrupted_line(args, err: BaseException) -> str:
    """One line after Ctrl-C: what was written, and the command that finishes the run."""
    import shlex

    sets = "".join(f" --set {shlex.quote(item)}" for item in args.set)
    # the flags that change the config: --resume refuses a different one
    if args.block_size is not None:
        sets += f" --block-size {args.block_size}"
    if args.backend is not None:
        sets += f" --backend {args.backend}"
    command = f"t1dmc run {shlex.quote(str(args.config))} -o {shlex.quote(str(args.output))}{sets}"
    store = getattr(err, "store", "unknown")
    if store is None:  # sweep.RunInterrupted before the store was claimed
        again = " --resume" if args.resume else (" --overwrite" if args.overwrite else "")
        return f"t1dmc: interrupted before anything was written; run again: {command}{again}"
    if store == "unknown":  # an interrupt that says nothing of the store
        return (
            f"t1dmc: interrupted; the tasks already written are kept: finish with: "
            f"{command} --resume"
        )
    running = (
        f" ({err.running} running task{'s' if err.running != 1 else ''} stopped unfinished)"
        if err.running
        else ""
    )
    during = " while compiling the kernels" if err.stage == "compiling" else ""
    staged = getattr(err, "staged", None)
    kept = (
        f"{staged}, the replacement of {args.output} (which stays as it was until the "
        "replacement is finished)"
        if staged
        else str(args.output)
    )
    return (
        f"t1dmc: interrupted{during}: {err.done} of {err.total} tasks written and kept in "
        f"{kept}{running}; finish with: {command} --resume"
    )


def _read_inputs_csv(path: str):
    import pandas as pd

    try:
        df = pd.read_csv(path, comment="#")  # '#' lines: the header of t1dmc's own CSVs
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path!r}: {err}") from None
    need = ("carbs_g_per_min", "insulin_u_per_min")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; the CSV needs "
            f"columns {', '.join(need)} (one row per minute)"
        )
    if df.empty:
        raise ValueError(f"{path}: no rows; the CSV needs one row per minute")
    for c in need:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{path}: column {c} is not numeric")
    return df[need[0]].to_numpy(float), df[need[1]].to_numpy(float)


def _write_small_output(path: Path, overwrite: bool, owned, write, what: str) -> int | None:
    """storeguard.write_output with the command's exit codes: None when written."""
    from .store.storeguard import UnsafeOutput, write_output

    try:
        write_output(path, overwrite, owned, write, what)
    except (UnsafeOutput, FileExistsError) as err:
        return _fail(str(err))
    except OSError as err:  # unwritable folder, full disk: the old output stays as it was
        return _fail(
            f"cannot write {str(err.filename or path)!r}: {err.strerror or err}", EXIT_RUN_FAILED
        )
    return None


def _check_small_output(path: Path, overwrite: bool, owned, what: str) -> int | None:
    """Refuse an output storeguard would refuse before the work: None when it may be written."""
    from .store.storeguard import UnsafeOutput, check_output

    try:
        check_output(path, overwrite, owned, what)
    except (UnsafeOutput, FileExistsError) as err:
        return _fail(str(err))
    return None


def _refuse_unsafe(path: Path, what: str = "output") -> int | None:
    """The working folder, root, home, a link: refused whatever the output's format."""
    from .store.storeguard import UnsafeOutput, refuse_unsafe_target

    try:
        refuse_unsafe_target(path, what)
    except UnsafeOutput as err:
        return _fail(str(err))
    return None


def _output_owner(out: Path, owners: dict) -> "tuple[object, int | None]":
    """(owned, None) when `out` is a safe path whose extension names one of `owners`
    (extension -> the check that an existing output is the engine's own), else (None, the
    exit status after the message)."""
    failed = _refuse_unsafe(out)
    if failed is not None:
        return None, failed
    owned = owners.get(out.suffix.lower())
    if owned is None:
        names = " or a ".join(owners)
        return None, _fail(
            f"output {str(out)!r}: name a {names} output (the extension chooses the format)"
        )
    return owned, None


def _idle_t1dmc_zarr(kind: str):
    """The `owned` check of write_output for a zarr output of `kind` (storeguard.OUTPUT_KINDS):
    a store the engine wrote, that no run is writing now, holding that kind of output (an
    UnsafeOutput naming what it holds otherwise)."""
    from .store.storeguard import StoreBusy, is_t1dmc_zarr, refuse_other_kind, writer_of

    def owned(path: Path) -> bool:
        writer = writer_of(path)
        if writer:
            raise StoreBusy(
                f"output {str(path)!r} is being written by a run ({writer}); choose another output"
            )
        if not is_t1dmc_zarr(path):
            return False
        refuse_other_kind(path, kind)
        return True

    return owned


def _to_zarr_new(ds, path: Path, consolidated: bool, kind: str) -> None:
    """Write `ds` as a new zarr store at `path` (never replacing: mode w-), tagged as the
    engine's own output of `kind`."""
    import warnings

    from .store.storeguard import tag_dataset

    ds = ds.copy()
    ds.attrs = dict(ds.attrs)
    for name in list(ds.variables):  # variable-length strings, as in a results store
        if ds[name].dtype.kind == "U":
            ds[name] = ds[name].astype(object)
    tag_dataset(ds, kind)
    with warnings.catch_warnings():  # zarr: consolidated metadata is not in the v3 spec yet
        warnings.simplefilter("ignore", category=UserWarning)
        ds.to_zarr(path, mode="w-", zarr_format=3, consolidated=consolidated)


def cmd_replay(args) -> int:
    from .population.replay import replay
    from .store.storeguard import CSV_HEADER, is_t1dmc_csv

    out = Path(args.output)
    kind = out.suffix.lower()
    owned, failed = _output_owner(out, {".csv": is_t1dmc_csv, ".zarr": _idle_t1dmc_zarr("replay")})
    if failed is not None:
        return failed
    what = "output"
    failed = _check_small_output(out, args.overwrite, owned, what)
    if failed is not None:
        return failed
    try:
        carbs, insulin = _read_inputs_csv(args.inputs)
        ds = replay(args.patient, carbs, insulin)
    except (ValueError, KeyError) as err:
        return _fail(str(err).strip('"'))

    def write_csv(tmp: Path) -> None:
        with open(tmp, "x", encoding="utf-8", newline="") as f:
            f.write(f"{CSV_HEADER} {_version()} replay of {args.patient}\n")
            ds.to_dataframe().to_csv(f)

    def write_zarr(tmp: Path) -> None:
        _to_zarr_new(ds, tmp, consolidated=True, kind="replay")

    failed = _write_small_output(
        out, args.overwrite, owned, write_csv if kind == ".csv" else write_zarr, what
    )
    if failed is not None:
        return failed
    print(
        f"replayed {args.patient} for {ds.sizes['minute'] - 1} minutes: bg "
        f"{float(ds.bg.min()):.1f}-{float(ds.bg.max()):.1f} mg/dL -> {out}"
    )
    return 0


def _reading(store: str, read, check: bool = True):
    """`read()`, a command's reads of the results store `store`, after checking that it is a
    t1dmc store (ValueError naming what is there) with no object of a completed task missing
    or empty (`check`); damage met while reading (a checksum that fails, a truncated chunk)
    ends in integrity.StoreDamaged (exit 1 for the commands) naming it, not in a traceback."""
    import warnings

    from .analysis.compare import require_store
    from .store.integrity import check_store_readable, reading_store

    path = Path(store)
    with warnings.catch_warnings():
        # zarr names the store's lock file as "not a component of a Zarr hierarchy"
        warnings.filterwarnings("ignore", message=".*not recognized as a component")
        if check:
            require_store(path)
            check_store_readable(path)
        with reading_store(path):
            return read()


def cmd_compare(args) -> int:
    import json

    from .analysis.compare import (
        compare,
        format_table,
        incomplete_message,
        open_store,
        refuse_output_in_store,
        to_json,
    )
    from .store.storeguard import UnsafeOutput, is_t1dmc_json

    out = Path(args.output) if args.output is not None else None
    if out is not None:
        kind = out.suffix.lower()
        owned, failed = _output_owner(
            out, {".json": is_t1dmc_json, ".zarr": _idle_t1dmc_zarr("comparison")}
        )
        if failed is not None:
            return failed
        try:
            refuse_output_in_store(out, args.store)
        except UnsafeOutput as err:
            return _fail(str(err))
        failed = _check_small_output(out, args.overwrite, owned, "output")
        if failed is not None:
            return failed

    def read():
        ds = open_store(args.store)
        incomplete = incomplete_message(args.store, ds)
        if incomplete and not args.allow_incomplete:
            raise ValueError(f"{incomplete} or pass --allow-incomplete")
        return compare(ds, baseline=args.baseline, day=args.day, window=args.window)

    from .store.integrity import StoreDamaged

    try:
        cmp = _reading(args.store, read)
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except ValueError as err:
        return _fail(str(err))
    if out is not None:
        if kind == ".json":

            def write(tmp: Path) -> None:
                with open(tmp, "x", encoding="utf-8") as f:
                    f.write(json.dumps(to_json(cmp), indent=2) + "\n")
        else:

            def write(tmp: Path) -> None:
                _to_zarr_new(cmp, tmp, consolidated=True, kind="comparison")

        failed = _write_small_output(out, args.overwrite, owned, write, "output")
        if failed is not None:
            return failed
    print(
        json.dumps(to_json(cmp), indent=2)
        if args.json
        else format_table(cmp, mmol=args.units == "mmol")
    )
    return 0


def _store_activity(store: Path) -> list[str]:
    """Lines on a run writing the store now and on a replacement of it beside it."""
    import os

    from .store.storeguard import classify_store, staged_path, writer_of

    lines = []
    writer = writer_of(store)
    if writer:
        lines.append(f"being written now: by {writer}; its results are partial until it ends")
    staged = staged_path(Path(os.path.abspath(store)))
    if classify_store(staged).kind == "store":
        replacing = writer_of(staged)
        if replacing:
            lines.append(
                f"a replacement is being built at {str(staged)!r} by {replacing}; "
                "this store stays as it is until it is swapped in"
            )
        else:
            lines.append(
                f"an interrupted replacement is at {str(staged)!r}: "
                f"`t1dmc run CONFIG -o {store} --resume` finishes it"
            )
    return lines


def cmd_verify(args) -> int:
    """Exit 0 when the store is whole, 1 when anything is damaged or missing, 2 when it is not
    a readable t1dmc store."""
    from .store.integrity import NotAStore, format_report, report_json, verify_store

    progress = None
    if not args.json and sys.stderr.isatty():

        def progress(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                end = "\n" if done == total else "\r"
                print(f"verify: {done:,}/{total:,} objects", end=end, file=sys.stderr, flush=True)

    from .store.storeguard import writer_of

    try:
        report = verify_store(Path(args.store), progress=progress)
    except NotAStore as err:
        return _fail(str(err))
    print(report_json(report) if args.json else format_report(report))
    writer = writer_of(Path(args.store))
    if writer:
        print(
            f"t1dmc: note: a run is writing {args.store!r} now ({writer}): what it was "
            "writing may read as damaged; verify again when it has finished",
            file=sys.stderr,
        )
    return 0 if report.ok else EXIT_RUN_FAILED


def cmd_inspect(args) -> int:
    from .store.integrity import StoreDamaged, check_metadata_readable, check_store_readable
    from .store.results import inspect_store

    store = Path(args.store)
    try:  # inspect_store names what is not a t1dmc store, and describes a damaged one
        # unreadable metadata, which zarr's reader meets with a flood of tracebacks (a lost
        # variable it describes, and the check below names)
        check_metadata_readable(store, missing_ok=True)
        text = _reading(args.store, lambda: inspect_store(store), check=False)
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except ValueError as err:
        return _fail(str(err))
    extra = _store_activity(store)
    if extra:  # before the config, which can be long
        head, sep, tail = text.partition("\nconfig:\n")
        text = "\n".join([head, *extra]) + sep + tail
    print(text)
    try:  # what it says is only as good as the store: say when objects are lost
        _reading(args.store, lambda: check_store_readable(store), check=False)
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except ValueError:
        pass  # (a store inspect_store could read, that integrity cannot check)
    return 0


def cmd_config_schema(args) -> int:
    import json

    from .batch.config import RunConfig

    print(json.dumps(RunConfig.model_json_schema(), indent=2))
    return 0


def cmd_config_check(args) -> int:
    from .batch.config import ConfigError, load_config
    from .batch.scenarios import expand

    try:
        cfg = load_config(args.config, args.set)
        scenarios = expand(cfg)
    except ConfigError as err:
        return _fail(str(err))
    print(
        f"{args.config}: valid; {len(scenarios)} scenario(s) x {cfg.run.n_patients} patients "
        f"x {cfg.run.days} day{'s' if cfg.run.days != 1 else ''} = "
        f"{len(scenarios) * cfg.run.n_patients * cfg.run.days:,} "
        f"patient-days in tasks of {cfg.block_size()} patients"
    )
    import os

    from .batch import preflight

    # the pre-flight estimate, for this machine's threads (a cluster's workers hold their own)
    workers = 0 if cfg.cluster.kind != "local" else (cfg.execution.workers or os.cpu_count() or 1)
    estimate = preflight.estimate(cfg, len(scenarios), workers)
    print(preflight.format_estimate(estimate))
    for warning in _inert_warnings(cfg, args):
        print(f"warning: {warning}")
    try:
        preflight.check_fits(estimate)
    except ConfigError as err:
        return _fail(str(err))
    return 0


def cmd_report(args) -> int:
    from .analysis import report
    from .store.integrity import StoreDamaged
    from .store.storeguard import UnsafeOutput

    report.return_freed_memory_to_the_os()  # memory bounded by chunks, not their number
    try:
        facts = _reading(
            args.store,
            lambda: report.render(
                args.store,
                args.output,
                overwrite=args.overwrite,
                day=args.day,
                window=args.window,
                units=args.units,
                baseline=args.baseline,
            ),
        )
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except (ValueError, FileExistsError, UnsafeOutput) as err:
        return _fail(str(err))
    except OSError as err:  # unwritable folder, full disk: an old report stays as it was
        return _fail(
            f"cannot write {str(err.filename or args.output)!r}: {err.strerror or err}",
            EXIT_RUN_FAILED,
        )
    print(
        f"report: {facts['files']['html']} ({len(facts['files']) - 1} figures) in "
        f"{facts['render_s']:.1f} s"
    )
    return 0


def cmd_export(args) -> int:
    from .analysis import export
    from .store.integrity import StoreDamaged
    from .store.storeguard import UnsafeOutput

    progress = None
    if sys.stderr.isatty():
        last = [0.0]

        def progress(done: int, total: int) -> None:
            import time

            now = time.monotonic()
            if done == total or now - last[0] > 0.5:
                last[0] = now
                end = "\n" if done == total else "\r"
                print(f"export: {done:,}/{total:,} rows", end=end, file=sys.stderr, flush=True)

    suffix = Path(args.output).suffix.lower()
    by_suffix = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(suffix)
    fmt = args.format or by_suffix or "csv"  # the output's extension chooses
    if args.format and by_suffix and args.format != by_suffix:
        return _fail(
            f"--format {args.format} with output {args.output!r}: its extension says "
            f"{by_suffix}; name the output {Path(args.output).stem}."
            f"{'parquet' if args.format == 'parquet' else 'csv'} or leave --format out"
        )
    if args.window is not None and args.per != "patient":
        return _fail(
            f"--window {args.window}: it sets the days a per-patient row averages; "
            "with --per patient-day every day is a row (add --per patient)"
        )
    window = DEFAULT_WINDOW if args.window is None else args.window

    def read():
        return export.export_store(
            args.store,
            args.output,
            fmt=fmt,
            per=args.per,
            window=window,
            allow_incomplete=args.allow_incomplete,
            progress=progress,
        )

    try:
        facts = _reading(args.store, read)
    except StoreDamaged as err:
        return _fail(str(err), EXIT_RUN_FAILED)
    except (ValueError, FileExistsError, UnsafeOutput) as err:  # export.ExportError too
        return _fail(str(err))
    except OSError as err:  # unwritable folder, full disk: nothing is left at the output
        return _fail(
            f"cannot write {str(err.filename or args.output)!r}: {err.strerror or err}",
            EXIT_RUN_FAILED,
        )
    print(
        f"exported {facts['rows']:,} rows x {len(facts['columns'])} columns "
        f"(one per {args.per}) in {facts['seconds']:.1f} s -> {facts['path']}"
    )
    return 0


# t1dmc validate's tables, in the order printed, with their titles
VALIDATE_TABLES = {
    "trial": "Trial table: the calibration targets",
    "real_world": "Real-world table: the default population and therapy against registries "
    "and a CGM trial",
    "closed_loop": "Closed-loop table: the controllers against their trials, paired arms",
}


def _table_names(text: str) -> set:
    names = {t.strip() for t in text.split(",") if t.strip()}
    unknown = sorted(names - set(VALIDATE_TABLES))
    if unknown or not names:
        what = f"{', '.join(unknown)}: not a table" if unknown else "no table named"
        raise argparse.ArgumentTypeError(
            f"{text!r}: {what}; choose from {', '.join(VALIDATE_TABLES)} (comma-separated)"
        )
    return names


def cmd_validate(args) -> int:
    from .analysis import validate
    from .batch.config import ConfigError

    if not validate.MIN_PATIENTS <= args.patients <= validate.MAX_PATIENTS:
        return _fail(
            f"--patients {args.patients}: between {validate.MIN_PATIENTS} (for an "
            f"interval) and {validate.MAX_PATIENTS:,}"
        )
    if not validate.MIN_YEARS <= args.years <= validate.MAX_YEARS:
        return _fail(
            f"--years {args.years:g}: between {validate.MIN_YEARS:g} and "
            f"{validate.MAX_YEARS:g} (the DCCT rows need year 1 and the whole of "
            "year 2)"
        )
    produce = {
        "trial": lambda: validate.validate(n=args.patients, seed=args.seed, years=args.years),
        "real_world": lambda: validate.validate_real_world(n=args.patients, seed=args.seed),
        "closed_loop": lambda: validate.validate_aid(n=args.patients, seed=args.seed),
    }
    try:
        tables = {name: produce[name]() for name in VALIDATE_TABLES if name in args.tables}
    except ConfigError as err:  # a setting the checks above did not foresee
        return _fail(str(err))
    every = [row for rows in tables.values() for row in rows]
    if args.json:
        print(validate.to_json(every))
    else:
        for k, (name, rows) in enumerate(tables.items()):
            print(("\n" if k else "") + VALIDATE_TABLES[name] + "\n")
            print(validate.table(rows))
        missed = [r for r in every if not r.passed]
        known = [r.quantity for r in missed if validate.is_known_miss(r.quantity)]
        new = [r.quantity for r in missed if not validate.is_known_miss(r.quantity)]
        if known:
            print(f"known misses (docs/model.md §5): {'; '.join(known)}")
        if new:
            print(f"MISSED, not known before: {'; '.join(new)}")
    return 0 if all(r.passed for r in every) else 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("t1dmc")
    except PackageNotFoundError:
        return "0+unknown"


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _at_least(low, parse=_whole_number, high=None):
    """An argparse type: `parse`, then refuse values outside [low, high)."""

    def checked(text: str):
        value = parse(text)
        if high is None and value < low:
            raise argparse.ArgumentTypeError(f"{value} is not at least {low}")
        if high is not None and not low <= value < high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high - 1}")
        return value

    return checked


_positive_int = _at_least(1)
_seed = _at_least(0, high=2**64)


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an unexpected failure",
    )
    p = argparse.ArgumentParser(
        prog="t1dmc",
        parents=[common],
        description=(
            "Population Monte Carlo engine for type 1 diabetes (UVA/Padova S2008 physiology)."
        ),
    )
    p.add_argument("--version", action="version", version=f"t1dmc {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, **k):  # every subcommand takes --debug too
        return sub.add_parser(name, parents=[common], **k)

    for add in (
        _add_run,
        _add_compare,
        _add_inspect,
        _add_verify,
        _add_config,
        _add_report,
        _add_export,
        _add_validate,
        _add_replay,
    ):
        add(command)
    return p


def _add_run(command) -> None:
    """t1dmc run"""
    r = command("run", help="simulate a population from a TOML config into a zarr store")
    r.add_argument("config", help="TOML config (see configs/quickstart.toml)")
    r.add_argument("-o", "--output", required=True, help="zarr store to create (OUT.zarr)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing output")
    r.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted run: compute only the missing tasks",
    )
    r.add_argument(
        "--workers",
        type=_at_least(0),
        default=None,
        help="threads (default: execution.workers; 0 there or here: all cores)",
    )
    r.add_argument(
        "--scheduler",
        default=None,
        help="address of an existing dask scheduler, e.g. tcp://10.0.0.5:8786",
    )
    r.add_argument(
        "--connect-timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="give up on --scheduler or the SLURM cluster after this long (30)",
    )
    r.add_argument(
        "--repair",
        action="store_true",
        help="with --resume: recompute the tasks whose chunks are damaged or missing "
        "(see t1dmc verify)",
    )
    r.add_argument(
        "--no-lock",
        action="store_true",
        help="do not lock the store (only where the filesystem has no flock; then "
        "nothing stops two runs writing one store)",
    )
    r.add_argument("--block-size", type=int, default=None, help="patients per task")
    r.add_argument(
        "--backend",
        choices=("cpu", "cuda"),
        default=None,
        help="cpu (default) or cuda: the population kernel on an NVIDIA GPU",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument(
        "--units",
        choices=("mgdl", "mmol"),
        default="mgdl",
        help="glucose in the summary in mg/dL (default) or mmol/L (mg/dL / 18.016)",
    )
    _add_set(r)
    r.set_defaults(func=cmd_run)


def _add_set(parser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a field of the config before it is validated (repeatable), e.g. "
        "--set run.days=10 --set therapy.kind=intensive; VALUE is a TOML value (10, 0.5, "
        'true, "text", [1, 2]) or else a plain string',
    )


def _add_compare(command) -> None:
    """t1dmc compare"""
    c = command("compare", help="paired differences of key outcomes between scenarios")
    c.add_argument("store", help="results store (OUT.zarr)")
    c.add_argument(
        "--baseline",
        default=None,
        help="scenario index, name, or swept value(s) alone, e.g. conventional or "
        "therapy.kind=conventional (default 0)",
    )
    c.add_argument("--day", type=int, default=None, help="last day of the window (default last)")
    c.add_argument("--window", type=int, default=14, help="days averaged per patient (14)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument(
        "--units",
        choices=("mgdl", "mmol"),
        default="mgdl",
        help="glucose in the table in mg/dL (default) or mmol/L; --json keeps mg/dL",
    )
    c.add_argument("-o", "--output", default=None, help="also save as .json or .zarr")
    c.add_argument(
        "--overwrite", action="store_true", help="replace an existing output (only one t1dmc wrote)"
    )
    c.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="compare a store whose run has not finished, on the patients written",
    )
    c.set_defaults(func=cmd_compare)


def _add_inspect(command) -> None:
    """t1dmc inspect"""
    i = command("inspect", help="a store's config, dimensions, scenarios and completion")
    i.add_argument("store", help="results store (OUT.zarr)")
    i.set_defaults(func=cmd_inspect)


def _add_verify(command) -> None:
    """t1dmc verify"""
    vf = command(
        "verify",
        help=(
            "read every chunk of a store and check its checksum, and list the chunks missing from "
            "completed tasks (exit 1 if any is damaged or missing)"
        ),
    )
    vf.add_argument("store", help="results store (OUT.zarr)")
    vf.add_argument("--json", action="store_true", help="print JSON instead of a report")
    vf.set_defaults(func=cmd_verify)


def _add_config(command) -> None:
    """t1dmc config schema | check"""
    cf = command("config", help="the config schema, or check a config file")
    cfs = cf.add_subparsers(dest="config_command", required=True)
    cfs.add_parser("schema", help="print the JSON schema of a config").set_defaults(
        func=cmd_config_schema
    )
    chk = cfs.add_parser("check", help="validate a config and its sweep without running it")
    chk.add_argument("config", help="TOML config")
    _add_set(chk)
    chk.set_defaults(func=cmd_config_check)


def _add_report(command) -> None:
    """t1dmc report"""
    rpt = command("report", help="an HTML page and PNG figures from a results store")
    rpt.add_argument("store", help="results store (OUT.zarr)")
    rpt.add_argument("-o", "--output", required=True, help="folder for report.html and figures")
    rpt.add_argument(
        "--overwrite", action="store_true", help="replace an existing report (only one t1dmc wrote)"
    )
    rpt.add_argument(
        "--day", type=int, default=None, help="last day of the window (0-based; default last)"
    )
    rpt.add_argument(
        "--window", type=int, default=14, help="days averaged per patient in tables (14)"
    )
    rpt.add_argument(
        "--units",
        choices=("mgdl", "mmol"),
        default="mgdl",
        help="glucose shown in mg/dL (default) or mmol/L (mg/dL / 18.016)",
    )
    rpt.add_argument("--baseline", default=None, help="scenario compared against (index or name)")
    rpt.set_defaults(func=cmd_report)


# engine.analysis.export's DEFAULT_WINDOW and PARQUET_HINT, here so that building the parser
# imports no pandas or xarray (tests/integration/test_cli_export.py checks they agree)
DEFAULT_WINDOW = 14
PARQUET_HINT = 'pip install "t1dmc[export]"'


def _add_export(command) -> None:
    """t1dmc export"""
    ex = command(
        "export",
        help="a results store as one CSV or Parquet table, for use without xarray",
        description=(
            "Write a results store as one table. --per patient-day (default): one row per "
            "(scenario, patient, day) with the keys (scenario, scenario_name and each swept "
            "field, patient, day), the patient's traits and labels (group, age, sex_male, ...) "
            "and every per-day variable as a column (ir_share: one column per mechanism, "
            "ir_share_<mechanism>). --per patient: one row per (scenario, patient) with the "
            "keys, the traits and labels, each UVA/Padova parameter (physiology_<name>), every "
            "per-day variable as its MEAN OVER THE LAST --window DAYS (14; days without a "
            "value skipped, as in t1dmc compare), named <variable>_last<window>d, and "
            "status_max (1 when the patient stopped on some day). Traces are not exported. "
            "Missing values are empty fields in CSV, nulls in Parquet. The store is read a "
            "piece at a time; the table is written under a temporary name and renamed when "
            "complete; an existing output is never replaced. Parquet needs pyarrow: "
            f"{PARQUET_HINT}."
        ),
    )
    ex.add_argument("store", help="results store (OUT.zarr)")
    ex.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default=None,
        help="table format (default: parquet for a .parquet output, csv otherwise)",
    )
    ex.add_argument(
        "--per",
        choices=("patient-day", "patient"),
        default="patient-day",
        help="one row per patient-day (default) or per patient (per-day variables as their "
        "mean over the last --window days)",
    )
    ex.add_argument(
        "--window",
        type=_positive_int,
        default=None,
        metavar="DAYS",
        help=f"--per patient: days averaged at the end of the run ({DEFAULT_WINDOW})",
    )
    ex.add_argument("-o", "--output", required=True, help="table to create (OUT.csv, OUT.parquet)")
    ex.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="export a store whose run has not finished (unwritten patients: empty values, "
        "completed = 0)",
    )
    ex.set_defaults(func=cmd_export)


def _add_validate(command) -> None:
    """t1dmc validate"""
    v = command(
        "validate",
        help=(
            "simulate the calibration targets of the README's Validation table and compare "
            "(exit 1 if any target is missed)"
        ),
    )
    v.add_argument(
        "--patients",
        type=_whole_number,
        default=200,
        help="patients per scenario (200; 10 to 25,000,000)",
    )
    v.add_argument(
        "--years",
        type=_number,
        default=6.0,
        help="length of the DCCT-like arm (6; 2 to 20: the table reads year 2)",
    )
    v.add_argument(
        "--seed", type=_seed, default=20261127, help="random-number seed (0 to 2**64 - 1)"
    )
    v.add_argument(
        "--tables",
        type=_table_names,
        default=set(VALIDATE_TABLES),
        help="which tables, comma-separated: trial, real_world, closed_loop (all); e.g. "
        "closed_loop alone to check a controller's tuning in 2 minutes",
    )
    v.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v.set_defaults(func=cmd_validate)


def _add_replay(command) -> None:
    """t1dmc replay"""
    rp = command("replay", help="drive one reference patient with per-minute inputs")
    rp.add_argument("patient", help='reference patient, e.g. "adolescent#001"')
    rp.add_argument("inputs", help="CSV with columns carbs_g_per_min, insulin_u_per_min")
    rp.add_argument("-o", "--output", required=True, help="output .csv or .zarr")
    rp.add_argument(
        "--overwrite", action="store_true", help="replace an existing output (only one t1dmc wrote)"
    )
    rp.set_defaults(func=cmd_replay)


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import signal
    import threading

    args = build_parser().parse_args(argv)
    try:
        from .runtime import bind_fast_libm

        bind_fast_libm()  # imports numba: a second or so in which Ctrl-C is common
    except KeyboardInterrupt:
        print(_interrupted_early(args), file=sys.stderr)
        return EXIT_INTERRUPTED
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (scancel, kill) and SIGHUP (a closed login) end a run as Ctrl-C does: locks
        # released, cluster jobs cancelled, temporary TLS certificates removed, store resumable
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _terminate_as_interrupt)
    try:
        code = _dispatch(args)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if _ABANDON_THREADS[0] and argv is None:
        # the program (not a caller of main): end now rather than wait for the interrupted
        # run's tasks still computing in threads; they are not marked complete, and --resume
        # computes them again (as after kill -9)
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _interrupted_early(args) -> str:
    """The line for Ctrl-C before a command got going: for a run whose output does not exist
    yet, that nothing was written (a run's own interrupts say what they kept)."""
    output = getattr(args, "output", None)
    if getattr(args, "func", None) is cmd_run and output and not Path(output).exists():
        return "t1dmc: interrupted before anything was written"
    return "t1dmc: interrupted"


def _dispatch(args) -> int:
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(_interrupted_early(args), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`t1dmc compare ... | head`): stop quietly, as a program
        # killed by SIGPIPE does, rather than report a failure
        import os

        try:  # the interpreter's final flush would fail on the closed pipe again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_BROKEN_PIPE
    except Exception as err:  # noqa: BLE001 - one line for the user; --debug for the traceback
        if isinstance(err.__context__, KeyboardInterrupt) or isinstance(
            err.__cause__, KeyboardInterrupt
        ):  # Ctrl-C inside an import turns into the import's error
            print(_interrupted_early(args), file=sys.stderr)
            return EXIT_INTERRUPTED
        if getattr(args, "debug", False):
            raise
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(
            f"t1dmc: error: {type(err).__name__}{': ' + text if text else ''} (an unexpected "
            "failure: rerun with --debug for the traceback, and report it)",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
