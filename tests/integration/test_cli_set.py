"""`--set section.field=value` on `t1dmc run` and `t1dmc config check`, and the pre-flight
estimate that `config check` prints."""

import xarray as xr

from engine.cli import main


def test_config_check_applies_overrides_and_prints_the_preflight_estimate(
    small_config_path, capsys
):
    argv = ["config", "check", str(small_config_path)]
    assert main([*argv, "--set", "run.days=10", "--set", "therapy.kind=intensive"]) == 0
    out = capsys.readouterr().out
    assert "valid; 1 scenario(s) x 24 patients x 10 days = 240 patient-days" in out
    for line in ("patient-days  240", "tasks", "store", "memory", "time"):
        assert line in out, line
    # quoted as TOML, or a bare word: the same
    assert main([*argv, "--set", 'therapy.kind="intensive"']) == 0
    assert (
        main([*argv, "--set", 'sweep.grid={"therapy.kind" = ["intensive", "conventional"]}']) == 0
    )
    assert "2 scenario(s) x 24 patients x 3 days" in capsys.readouterr().out


def test_an_unknown_section_or_field_in_set_is_named_with_exit_2(
    small_config_path, tmp_path, capsys
):
    out = tmp_path / "o.zarr"
    cases = [
        (["--set", "run.dayz=10"], "run.dayz = 10: unknown field; allowed here: name, seed"),
        (["--set", "nosuch.field=1"], "nosuch = {'field': 1}: unknown field"),
        (["--set", "run.days=0"], "run.days = 0: Input should be greater than or equal to 1"),
        (["--set", "run.days"], "--set 'run.days': expected section.field=value"),
    ]
    for extra, needle in cases:
        assert main(["config", "check", str(small_config_path), *extra]) == 2
        assert needle in capsys.readouterr().err
        assert main(["run", str(small_config_path), "-o", str(out), "-q", *extra]) == 2
        assert needle in capsys.readouterr().err
        assert not out.exists()


def test_run_writes_the_overridden_config(small_config_path, tmp_path, capsys):
    out = tmp_path / "o.zarr"
    argv = ["run", str(small_config_path), "-o", str(out), "-q"]
    assert main([*argv, "--set", "run.days=2", "--set", "therapy.kind=conventional"]) == 0
    ds = xr.open_zarr(out)
    assert ds.sizes["day"] == 2
    assert 'kind = "conventional"' in ds.attrs["config_toml"]
    assert "days = 2" in ds.attrs["config_toml"]
    # a resume needs the same overrides: without them the config differs and is refused
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "the config differs" in err
    # each differing field named, with both values
    assert "run.days: 2 in the store, 3 now" in err
    assert "therapy.kind: 'conventional' in the store, 'real_world' now" in err
    assert (
        main([*argv, "--resume", "--set", "run.days=2", "--set", "therapy.kind=conventional"]) == 0
    )


def test_the_resume_hint_after_an_interrupt_repeats_the_overrides(
    small_config_path, tmp_path, capsys, monkeypatch
):
    from engine.batch import sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run", interrupted)
    out = tmp_path / "o.zarr"
    argv = ["run", str(small_config_path), "-o", str(out), "--set", "run.name=my run"]
    assert main(argv) == 130
    assert f"-o {out} --set 'run.name=my run' --resume" in capsys.readouterr().err


def test_the_resume_hint_names_the_flags_that_change_the_config(tmp_path):
    """--block-size and --backend change the config that --resume compares, so the line
    printed after an interrupt repeats them (quoted for the shell); during --overwrite it
    says the tasks are in the replacement, and that the old store is as it was."""
    from argparse import Namespace

    from engine.batch.sweep import RunInterrupted
    from engine.cli import _interrupted_line

    args = Namespace(
        config="my run.toml",
        output="s.zarr",
        set=["run.days=5"],
        block_size=2,
        backend="cpu",
        resume=False,
        overwrite=False,
    )
    err = RunInterrupted("s.zarr", 6, 25, 0, "running")
    line = _interrupted_line(args, err)
    assert line == (
        "t1dmc: interrupted: 6 of 25 tasks written and kept in s.zarr; finish with: "
        "t1dmc run 'my run.toml' -o s.zarr --set run.days=5 --block-size 2 --backend cpu "
        "--resume"
    )
    err.staged = "/w/.s.zarr.t1dmc-new"
    assert "kept in /w/.s.zarr.t1dmc-new, the replacement of s.zarr (which stays as it was" in (
        _interrupted_line(args, err)
    )


def test_resume_with_another_block_size_names_the_flag(small_config_path, tmp_path, capsys):
    out = tmp_path / "o.zarr"
    argv = ["run", str(small_config_path), "-o", str(out), "-q", "--set", "run.days=1"]
    assert main([*argv, "--block-size", "6"]) == 0
    assert main([*argv, "--resume"]) == 2
    assert "pass --block-size 6" in capsys.readouterr().err
    assert main([*argv, "--resume", "--block-size", "6"]) == 0
