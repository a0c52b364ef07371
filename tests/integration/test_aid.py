"""Closed loop end to end: the presets' outputs, the devices' events, and plug-in controllers
(imported only when running, refused before anything is written when they cannot run)."""

import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from engine.batch import plugins, sweep
from engine.batch.config import ConfigError, parse_config
from engine.model.glycaemia import D
from engine.model.traits import T

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "bang_bang:pd_controller"  # docs/examples/bang_bang.py


def run(therapy, n=16, days=14, seed=5):
    cfg = parse_config(
        {
            "run": {"n_patients": n, "days": days, "seed": seed},
            "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0}},
            "therapy": therapy,
        }
    )
    inputs = sweep.kernel_inputs(cfg)
    cohort = sweep.cohort_of(inputs, np.arange(n))
    return sweep.simulate(inputs, cohort, np.full(n, -1), 0).daily


def mean(daily, name, start=2):
    return float(np.nanmean(daily[getattr(D, name)][:, start:]))


def test_presets_report_what_their_pump_did():
    sap = run({"kind": "sap"})
    pid = run({"kind": "aid_pid"})
    oref = run({"kind": "aid_oref", "controller_settings": {"smb": 1.0}})  # micro-boluses on
    assert mean(sap, "closed_loop_pct") == 0.0 and mean(sap, "auto_bolus_u") == 0.0
    assert np.isnan(sap[D.aid_sensitivity_ratio]).all()
    for daily in (pid, oref):
        assert 85.0 < mean(daily, "closed_loop_pct") < 100.0  # sensor gaps and warm-ups
        assert mean(daily, "suspend_min") > 0.0
        assert mean(daily, "sensor_gap_min") > 0.0
        total = daily[D.basal_u] + daily[D.bolus_u]
        np.testing.assert_allclose(total, daily[D.tdd], rtol=1e-12)
    assert np.isnan(pid[D.aid_sensitivity_ratio]).all()  # the PID estimates nothing
    assert mean(oref, "auto_bolus_u") > 0.0
    estimate = oref[D.aid_sensitivity_ratio][:, 2:]
    assert np.isfinite(estimate).all() and (estimate >= 0.7).all() and (estimate <= 1.2).all()
    # closed loop brings glucose towards its target in every arm's same patients
    assert mean(pid, "tir") > mean(sap, "tir") and mean(oref, "tir") > mean(sap, "tir")


def test_a_failed_infusion_set_raises_glucose_until_it_is_changed():
    base = {"kind": "sap", "sensor_gaps_per_day": 0.0, "exercise_mode_share": 0.0}
    fine = run({**base, "set_failure_share": 0.0})
    failing = run({**base, "set_failure_share": 1.0})
    assert fine[D.set_failures].sum() == 0.0
    assert failing[D.set_failures].sum() >= 16 * 14 / 3 * 0.5  # most sets fail before changed
    assert mean(failing, "glucose_mean") > mean(fine, "glucose_mean") + 2.0


def test_cgm_measured_ranges_are_the_readings_ranges():
    """cgm_tir / cgm_tbr70 count the day's CGM readings: without sensor error they follow
    blood glucose (sampled every 5 min); with it, readings spread and more fall below 70."""
    out = {}
    for kind in ("none", "johnson_su"):
        cfg = parse_config(
            {
                "run": {"n_patients": 24, "days": 6, "seed": 3},
                "cohort": {"groups": {"adult": 1.0, "adolescent": 1.0}},
                "sensor": {"kind": kind},
                "therapy": {"kind": "sap"},
            }
        )
        out[kind] = daily_of(cfg)[1]
    exact = out["none"]
    np.testing.assert_allclose(
        exact[D.cgm_tir].mean(axis=1), exact[D.tir].mean(axis=1), atol=1.0
    )  # 288 samples a day against 1,440 minutes
    assert abs(mean(exact, "cgm_tbr70") - mean(exact, "tbr70")) < 0.2
    noisy = out["johnson_su"]
    assert ((noisy[D.cgm_tir] >= 0) & (noisy[D.cgm_tir] + noisy[D.cgm_tbr70] <= 100)).all()
    assert mean(noisy, "cgm_tbr70") > mean(noisy, "tbr70")


def test_aid_runs_are_reproducible_bit_for_bit():
    a = run({"kind": "aid_oref"}, n=8, days=4)
    b = run({"kind": "aid_oref"}, n=8, days=4)
    np.testing.assert_array_equal(a, b)


# --- AID in the real-world mix (cohort.aid_share) -------------------------------------------


def mix(aid_share, n=400, **therapy):
    return parse_config(
        {
            "run": {"n_patients": n, "days": 6, "seed": 9},
            "cohort": {"aid_share": aid_share, "cgm_share": 0.5},
            "therapy": {"kind": "real_world", **therapy},
        }
    )


def test_aid_users_are_drawn_among_pump_and_cgm_users_whose_devices_stay():
    n = 4000
    traits = {}
    for share in (0.0, 0.3):
        cfg = mix(share, n=n, controller="oref" if share else "none")
        cohort = sweep.cohort_of(sweep.kernel_inputs(cfg), np.arange(n))
        names = ("uses_aid", "uses_pump", "uses_cgm")
        traits[share] = {k: cohort.traits[:, getattr(T, k)] for k in names}
    none, some = traits[0.0], traits[0.3]
    assert none["uses_aid"].sum() == 0
    aid = some["uses_aid"] == 1.0
    assert abs(aid.mean() - 0.3) < 0.025
    assert (some["uses_pump"][aid] == 1.0).all() and (some["uses_cgm"][aid] == 1.0).all()
    # everyone keeps the devices drawn at aid_share 0: scenarios differ in the controller only
    for device in ("uses_pump", "uses_cgm"):
        np.testing.assert_array_equal(some[device], none[device])
    assert abs(some["uses_pump"].mean() - 0.63) < 0.025
    assert abs(some["uses_cgm"].mean() - 0.5) < 0.025


def daily_of(cfg):
    n = cfg.run.n_patients
    inputs = sweep.kernel_inputs(cfg)
    cohort = sweep.cohort_of(inputs, np.arange(n))
    return cohort, sweep.simulate(inputs, cohort, np.full(n, -1), 0).daily


def test_only_the_aid_users_of_a_mix_run_the_controller():
    cfg = mix(0.3, n=40, controller="oref")
    assert (cfg.therapy.aid_target_mg_dl, cfg.therapy.max_basal_factor) == (110.0, 3.0)
    cohort, daily = daily_of(cfg)
    aid = cohort.traits[:, T.uses_aid] == 1.0
    assert 5 <= aid.sum() <= 20
    loop = daily[D.closed_loop_pct][:, 1:].mean(axis=1)
    assert (loop[aid] > 80.0).all() and (loop[~aid] == 0.0).all()
    assert np.isfinite(daily[D.aid_sensitivity_ratio][aid, 2:]).all()
    assert np.isnan(daily[D.aid_sensitivity_ratio][~aid]).all()
    # the others' lives are bit for bit those of the same run without AID users
    _, before = daily_of(mix(0.0, n=40))
    np.testing.assert_array_equal(daily[:, ~aid], before[:, ~aid])
    assert not np.array_equal(daily[D.tdd][aid], before[D.tdd][aid])


def test_a_mix_without_aid_users_is_the_mix_of_before():
    """aid_share 0 with a controller named: nobody runs it, and the run is bit for bit the
    real_world run without one."""
    a, b = mix(0.0, n=24), mix(0.0, n=24, controller="pid")
    out = []
    for cfg in (a, b):
        inputs = sweep.kernel_inputs(cfg)
        cohort = sweep.cohort_of(inputs, np.arange(24))
        out.append(sweep.simulate(inputs, cohort, np.full(24, -1), 0).daily)
    np.testing.assert_array_equal(out[0], out[1])


def test_a_mix_needs_a_controller_for_its_aid_users_and_room_in_the_devices():
    with pytest.raises(ConfigError, match="cohort.aid_share = 0.2: its AID users need"):
        mix(0.2)
    with pytest.raises(ConfigError, match="aid_share = 0.4: more than the share with both"):
        mix(0.4, controller="oref")  # 0.63 x 0.5 = 0.315 have a pump and a CGM


@pytest.mark.parametrize(
    "therapy, sweep_of, tuned",
    [
        # a controller swept over the everyday mix
        ({"controller": "oref"}, {"therapy.controller": ["pid", "oref"]}, [(120, 1.5), (110, 3)]),
        # over a preset that has its own controller's tuning: the swept one's wins
        ({"kind": "aid_pid"}, {"therapy.controller": ["oref", "pid"]}, [(110, 3), (120, 1.5)]),
        ({"kind": "aid_oref"}, {"therapy.controller": ["pid"]}, [(120, 1.5)]),
        # beside a swept preset, in either order
        ({}, {"therapy.controller": ["pid"], "therapy.kind": ["sap"]}, [(120, 1.5)]),
        ({}, {"therapy.kind": ["sap"], "therapy.controller": ["pid"]}, [(120, 1.5)]),
    ],
)
def test_a_swept_controller_brings_its_calibrated_tuning(therapy, sweep_of, tuned):
    from engine.batch.scenarios import expand

    cfg = parse_config(
        {
            "run": {"n_patients": 4, "days": 2},
            "cohort": {"aid_share": 0.1 if "kind" not in therapy and therapy else 0.0},
            "therapy": therapy,
            "sweep": {"grid": sweep_of},
        }
    )
    got = [
        (
            s.config.therapy.controller,
            s.config.therapy.aid_target_mg_dl,
            s.config.therapy.max_basal_factor,
        )
        for s in expand(cfg)
    ]
    controllers = sweep_of["therapy.controller"]
    assert got == [(c, *t) for c, t in zip(controllers, tuned, strict=True)]


def test_a_named_controller_brings_its_tuning_over_the_presets_and_under_the_files():
    oref = parse_config({"therapy": {"kind": "aid_pid", "controller": "oref"}}).therapy
    assert (oref.aid_target_mg_dl, oref.max_basal_factor) == (110.0, 3.0)
    mine = parse_config(
        {"therapy": {"kind": "aid_pid", "controller": "oref", "aid_target_mg_dl": 100}}
    ).therapy
    assert (mine.aid_target_mg_dl, mine.max_basal_factor) == (100.0, 3.0)
    # a stored config reads back the same
    again = parse_config(tomllib.loads(parse_config({"therapy": {"kind": "aid_pid"}}).to_toml()))
    assert (again.therapy.aid_target_mg_dl, again.therapy.max_basal_factor) == (120.0, 1.5)


# --- plug-ins -----------------------------------------------------------------------------


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT / "docs" / "examples"))
    return tmp_path


def write_module(folder, name, body):
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


def test_a_plugin_is_not_imported_when_a_config_is_read_or_translated(plugin_dir):
    write_module(plugin_dir, "never_imported", "raise RuntimeError('imported')\n")
    cfg = parse_config({"therapy": {"kind": "sap", "controller": "never_imported:f"}})
    sweep.kernel_inputs(cfg)
    assert "never_imported" not in sys.modules


@pytest.mark.parametrize(
    "spec, body, settings, says",
    [
        ("no_such_module_t1dmc:f", None, {}, "cannot import no_such_module_t1dmc"),
        ("plain_fn:f", "def f(*a):\n    return 1.0, 0.0\n", {}, "not a numba-jitted function"),
        (
            "wrong_sig:f",
            "import numba\n@numba.njit\ndef f(cgm, iob):\n    return 1.0, 0.0\n",
            {},
            "does not compile or run with the controller signature",
        ),
        (  # numba's error past its "Failed in ... pipeline" header
            "bad_attribute:f",
            "import numba\n@numba.njit\ndef f(c, i, a, g, m, s, st):\n"
            "    return c.no_such_attribute, 0.0\n",
            {},
            "Unknown attribute 'no_such_attribute'",
        ),
        (
            "wrong_answer:f",
            "import numba\n@numba.njit\ndef f(c, i, a, g, m, s, st):\n    return 1.0\n",
            {},
            "must return (basal_u_per_h, bolus_u)",
        ),
        (EXAMPLE, None, {"speed": 2.0}, "therapy.controller_settings.speed: not a setting"),
        (EXAMPLE, None, {"gain": 9.0}, "therapy.controller_settings.gain = 9.0: outside"),
    ],
)
def test_a_plugin_that_cannot_run_is_refused_naming_it(plugin_dir, spec, body, settings, says):
    if body is not None:
        write_module(plugin_dir, spec.split(":")[0], body)
    plugins.resolve.cache_clear()
    with pytest.raises(ConfigError) as err:
        plugins.check(spec, settings, "cpu")
    assert says in str(err.value)
    assert "therapy.controller" in str(err.value)


def test_a_plugin_runs_on_cuda_and_a_controller_needs_a_pump(plugin_dir, monkeypatch):
    # under the simulator the kernel calls the CPU-compiled function that check compiled;
    # on a GPU, check compiles the kernel with it (tests/unit/sim/test_cuda_driver.py)
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    plugins.check(EXAMPLE, {}, "cuda")
    with pytest.raises(ConfigError, match='needs delivery = "pump", or "mix"'):
        parse_config({"therapy": {"kind": "real_world", "delivery": "mdi", "controller": "pid"}})
    # a sensor-augmented pump's device events are a pump's (a review ran sap on pens)
    with pytest.raises(ConfigError, match='device_events = true .* needs delivery = "pump"'):
        parse_config({"therapy": {"kind": "sap", "delivery": "mdi"}})
    with pytest.raises(ConfigError, match="controller_settings.gain = 50.0: outside"):
        parse_config({"therapy": {"kind": "aid_pid", "controller_settings": {"gain": 50.0}}})
    with pytest.raises(ConfigError, match="not none, pid, oref or a plug-in"):
        parse_config({"therapy": {"kind": "sap", "controller": "mpc"}})


def test_a_plugin_over_the_gpu_s_constant_memory_is_refused_naming_it(plugin_dir, monkeypatch):
    """On a GPU, check compiles the kernel with the plug-in; the toolchain's failure as the
    H200 gave it (nvJitLink's ptxas log) is refused naming the plug-in, with what to do."""
    from engine.sim import cuda_driver

    def too_much_constant_data(func):
        raise RuntimeError(
            "ERROR_PTX_COMPILE (4)\nnvJitLink error log: ptxas error   : File uses too much "
            "global constant data (0x1f8d8 bytes, 0x10000 max)"
        )

    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "0")
    monkeypatch.setattr(cuda_driver, "compile_kernel", too_much_constant_data)
    plugins.resolve.cache_clear()
    plugins._check_cuda.cache_clear()
    with pytest.raises(ConfigError) as err:
        plugins.check(EXAMPLE, {}, "cuda")
    plugins._check_cuda.cache_clear()
    message = str(err.value)
    assert f"therapy.controller = {EXAMPLE!r}" in message
    assert "too much global constant data" in message
    assert "64 KiB of constant memory" in message and "name a table once" in message


def test_a_refused_plugin_writes_nothing(plugin_dir, tmp_path):
    cfg = parse_config(
        {
            "run": {"n_patients": 4, "days": 1},
            "therapy": {"kind": "sap", "controller": "no_such_module_t1dmc:f"},
        }
    )
    out = tmp_path / "never.zarr"
    with pytest.raises(ConfigError, match="therapy.controller"):
        sweep.run(cfg, out, quiet=True)
    assert not out.exists()


@pytest.mark.parametrize(
    "rows, says",
    [
        ('(("gain", 10.0, 0.0, 5.0, "x"),)', "low <= default <= high"),
        ('(("x", 1.0, 5.0, 0.0, "x"),)', "low <= default <= high"),
        ('(("g", 1.0, 0.0, 5.0, "x"), ("g", 2.0, 0.0, 5.0, "y"))', "declared twice"),
        ('(("g", "1", 0.0, 5.0, "x"),)', "must be numbers"),
        ('(("not a name", 1.0, 0.0, 5.0, "x"),)', "must be an identifier"),
    ],
)
def test_a_plugins_tuning_table_is_checked_like_the_builtins(plugin_dir, rows, says):
    """A default outside its own range ran unchecked (a review found gain 10 run with a
    declared range 0-5); duplicate names and inverted ranges too."""
    name = f"bad_tuning_{abs(hash(rows))}"
    write_module(
        plugin_dir,
        name,
        f"""
        import numba as nb
        TUNING = {rows}
        @nb.njit
        def f(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
            return settings[1], 0.0
        """,
    )
    with pytest.raises(ConfigError, match=f"therapy.controller = '{name}:f': TUNING row .*{says}"):
        plugins.check(f"{name}:f", {}, "cpu")


def test_a_plugin_that_raises_in_the_run_is_named_and_a_changed_one_cannot_resume(
    plugin_dir, tmp_path, capsys
):
    """A plug-in raising mid-run was reported as the engine's failure ("report it"); and the
    engine's identity does not cover a plug-in's code, so a resume could mix two versions."""
    from engine.cli import main

    body = """
        import numba as nb
        @nb.njit
        def ctl(cgm, iob_u, activity_u_per_h, carbs_g, minute, settings, state):
            if minute == {when}:
                raise ValueError("no dose for you")
            return settings[1], 0.0
        """
    write_module(plugin_dir, "raises_late", body.format(when=700))
    cfg = tmp_path / "p.toml"
    cfg.write_text(
        '[run]\nn_patients = 4\ndays = 1\n[therapy]\nkind = "sap"\ncontroller = "raises_late:ctl"\n'
    )
    out = tmp_path / "p.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "therapy.controller = 'raises_late:ctl' raised ValueError while simulating " in err
    assert "no dose for you" in err and "report it" not in err and "--overwrite" in err
    # the fixed plug-in (another source) may not finish the store the first one began
    write_module(plugin_dir, "raises_late", body.format(when=-1))
    sys.modules.pop("raises_late", None)
    plugins.resolve.cache_clear()
    assert main(["run", str(cfg), "-o", str(out), "-q", "--resume"]) == 2
    assert "the plug-in controller raises_late:ctl is not the one that began" in (
        capsys.readouterr().err
    )
    assert main(["run", str(cfg), "-o", str(out), "-q", "--overwrite"]) == 0


def test_the_documented_example_plugin_runs(plugin_dir):
    """docs/examples/bang_bang.py through the kernel (compiled for it in this process)."""
    plugins.resolve.cache_clear()
    plugins.check(EXAMPLE, {"gain": 1.5}, "cpu")
    daily = run(
        {"kind": "sap", "controller": EXAMPLE, "controller_settings": {"gain": 1.5}}, n=4, days=3
    )
    assert mean(daily, "closed_loop_pct", start=0) > 80.0
    est = daily[D.aid_sensitivity_ratio]
    assert np.isfinite(est).all() and (est > 0.0).all()  # its own estimate reaches the results
    assert (est <= 3.0).all()  # the share of the programme, within the pump's maximum (3 x)
    sap = run({"kind": "sap"}, n=4, days=3)
    assert not np.array_equal(daily[D.basal_u], sap[D.basal_u])


def test_the_stored_device_flags_are_the_scenarios_not_the_draws(tmp_path):
    """uses_pump, uses_cgm and uses_aid follow each scenario's therapy (a review found every
    arm of a preset sweep stored with the real-world mix's draws: uses_aid 0 in the closed-loop
    arms); under the mix they are the draws, AID users among the pump-and-CGM users."""
    import xarray as xr

    from engine.cli import main

    cfg = tmp_path / "arms.toml"
    cfg.write_text(
        textwrap.dedent(
            """
            [run]
            n_patients = 12
            days = 1
            [cohort]
            cgm_share = 0.5
            [sweep.zip]
            "therapy.kind" = ["real_world", "real_world", "sap", "aid_oref", "real_world"]
            "therapy.delivery" = ["mix", "mdi", "pump", "pump", "mix"]
            "therapy.controller" = ["none", "none", "none", "oref", "oref"]
            "cohort.aid_share" = [0.0, 0.0, 0.0, 0.0, 0.3]
            """
        )
    )
    out = tmp_path / "arms.zarr"
    assert main(["run", str(cfg), "-o", str(out), "-q"]) == 0
    with xr.open_zarr(out) as ds:
        flags = {k: ds[k].values for k in ("uses_pump", "uses_cgm", "uses_aid")}
        loop = ds["closed_loop_pct"].values[:, :, 0]
    assert all(v.shape == (5, 12) for v in flags.values())
    drawn_pump, drawn_cgm = flags["uses_pump"][0], flags["uses_cgm"][0]
    assert 0 < drawn_pump.sum() < 12 and 0 < drawn_cgm.sum() < 12
    assert (flags["uses_pump"][1] == 0).all() and (flags["uses_cgm"][1] == drawn_cgm).all()
    assert (flags["uses_pump"][2:4] == 1).all() and (flags["uses_cgm"][2:4] == 1).all()
    assert (flags["uses_aid"][:3] == 0).all() and (flags["uses_aid"][3] == 1).all()
    users = flags["uses_aid"][4] == 1
    assert users.any() and (drawn_pump[users] == 1).all() and (drawn_cgm[users] == 1).all()
    # the flags say who ran the controller
    assert ((loop > 0) == (flags["uses_aid"] == 1)).all()
