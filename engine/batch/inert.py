"""Config fields that have no effect under the options chosen beside them, in one table, so
that `t1dmc run` and `t1dmc config check` can warn when a swept field (sweep.grid, sweep.zip,
sweep.ranges), a `--set` field or a field of the file changes nothing: sweeping
`cohort.jitter_cv` under the default `mvlognormal` sampler gives identical scenarios.

Each rule says which fields, the condition under which they are inert, and why (the code that
ignores them). "No effect" means on the simulated patients: a few fields still change a trait
that the store records (`uses_cgm`, `uses_pump`, `uses_aid`, `dawn_amplitude`,
`tod_amplitude`), which the rule's explanation says. tests/unit/batch/test_inert.py checks
every rule against the kernel: under its condition, two values of each field give the same
results bit for bit.

A second kind of inert field comes from sweeping a preset selector (`therapy.kind`,
`therapy.controller`, `lifestyle.profile`, `behaviour.profile`; engine/batch/scenarios.py):
every scenario takes the whole preset (a controller: its calibrated tuning), so a field of
that preset given in the file or by `--set` is replaced wherever the preset's value differs,
unless it is swept beside the selector.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .config import RunConfig
from .scenarios import PRESET_SELECTORS

SIMGLUCOSE = "simglucose_basal_bolus"


@dataclass(frozen=True)
class Rule:
    fields: tuple[str, ...]  # dotted config paths (a section path covers its fields)
    inert_when: Callable[[RunConfig], bool]
    condition: str  # the condition, as the user would write it
    why: str  # what ignores the field


def _groups(cfg: RunConfig) -> set[str]:
    return {g for g, w in cfg.cohort.groups.items() if w > 0}


def _illness_off(c: RunConfig) -> bool:
    return not c.episodes.illness or c.episodes.illness_per_year == 0


def _no_aid_users(c: RunConfig, any_delivery: bool = False) -> bool:
    """In a mix of therapies only the AID users' pumps are modelled (engine/life/aid.py):
    whether a mix has none. any_delivery: whether no patient is an AID user at all (delivery
    is not a mix, or a mix without AID users)."""
    if any_delivery and c.therapy.delivery != "mix":
        return True
    return c.therapy.delivery == "mix" and c.cohort.aid_share == 0


def _stress_off(c: RunConfig) -> bool:
    return not c.episodes.stress or c.episodes.stress_per_week == 0


RULES: tuple[Rule, ...] = (
    Rule(
        ("cohort.jitter_cv",),
        lambda c: c.cohort.sampler == "mvlognormal",
        'cohort.sampler is "mvlognormal"',
        'the jitter acts only under cohort.sampler = "resample"',
    ),
    Rule(
        (
            "therapy.correct",
            "therapy.correction_threshold_mg_dl",
            "therapy.use_iob",
            "therapy.delivery",
        ),
        lambda c: c.therapy.kind == SIMGLUCOSE,
        f'therapy.kind is "{SIMGLUCOSE}"',
        "simglucose's rule is carbs/CR plus (G - target)/CF above 150 mg/dL, without insulin "
        "on board or a pen's or pump's increment",
    ),
    Rule(
        ("therapy.correction_threshold_mg_dl", "therapy.target_mg_dl", "therapy.use_iob"),
        lambda c: c.therapy.kind != SIMGLUCOSE and not c.therapy.correct,
        "therapy.correct is false",
        "meal boluses carry no correction",
    ),
    Rule(
        ("therapy.cgm_high_alert_mg_dl",),
        lambda c: c.therapy.kind == SIMGLUCOSE or not c.therapy.correct,
        f'therapy.kind is "{SIMGLUCOSE}" or therapy.correct is false',
        "the high alert is answered with the usual correction, which these give none of",
    ),
    Rule(
        ("therapy.dia_h",),
        lambda c: c.therapy.kind == SIMGLUCOSE or not (c.therapy.correct and c.therapy.use_iob),
        f'therapy.kind is "{SIMGLUCOSE}", therapy.correct is false or therapy.use_iob is false',
        "insulin on board (which dia_h decays) is only subtracted from corrections under use_iob",
    ),
    Rule(
        ("therapy.basal_absorption_cv",),
        lambda c: c.therapy.kind == SIMGLUCOSE or c.therapy.delivery == "pump",
        f'therapy.delivery is "pump" (or therapy.kind is "{SIMGLUCOSE}")',
        "a pump's basal is rapid-acting insulin, whose variability is rapid_absorption_cv",
    ),
    Rule(
        ("cohort.pump_share",),
        lambda c: c.therapy.delivery != "mix" or c.therapy.kind == SIMGLUCOSE,
        f'therapy.delivery is not "mix" (or therapy.kind is "{SIMGLUCOSE}")',
        "each patient's own pump or pens are used only under delivery = mix (the uses_pump "
        "trait recorded still changes)",
    ),
    Rule(
        ("cohort.cgm_share",),
        lambda c: c.therapy.hypo_detection != "mix" and _no_aid_users(c, any_delivery=True),
        'therapy.hypo_detection is not "mix" (and no AID users are drawn: delivery is not '
        '"mix" or cohort.aid_share is 0)',
        "each patient's own CGM or finger-sticks are used only under hypo_detection = mix, "
        "and AID users are drawn among the CGM wearers (the uses_cgm trait recorded still "
        "changes)",
    ),
    Rule(
        ("cohort.aid_share",),
        lambda c: c.therapy.delivery != "mix",
        'therapy.delivery is not "mix"',
        "only a mix of therapies gives its AID users the controller (the uses_aid trait "
        "recorded still changes)",
    ),
    Rule(
        ("therapy.controller",),
        lambda c: _no_aid_users(c),
        'under delivery = "mix", cohort.aid_share is 0',
        "a mix gives the controller to its AID users only, and there are none (a review found "
        "a scenario labelled aid_oref under the mix with no closed loop)",
    ),
    Rule(
        (
            "therapy.controller_settings",
            "therapy.aid_target_mg_dl",
            "therapy.max_basal_factor",
            "therapy.max_iob_u_per_kg",
            "therapy.suspend_before_low",
            "therapy.suspend_threshold_mg_dl",
            "therapy.insulin_peak_min",
            "therapy.exercise_mode_share",
            "therapy.exercise_target_mg_dl",
        ),
        lambda c: c.therapy.controller == "none" or _no_aid_users(c),
        'therapy.controller is "none" (or under delivery = "mix", cohort.aid_share is 0)',
        "no controller runs",
    ),
    Rule(
        (
            "therapy.sensor_session_days",
            "therapy.sensor_warmup_min",
            "therapy.sensor_gaps_per_day",
            "therapy.sensor_gap_min",
            "therapy.set_change_days",
            "therapy.set_failure_share",
            "therapy.set_failure_loss",
        ),
        lambda c: not c.therapy.runs_pump() or _no_aid_users(c),
        'therapy.controller is "none" and therapy.device_events is false (or under delivery = '
        '"mix", cohort.aid_share is 0)',
        "no pump or sensor is modelled as a device",
    ),
    Rule(
        (
            "therapy.fasting_target_mg_dl",
            "therapy.hba1c_target",
            "therapy.tbr_limit_pct",
            "therapy.follow_advice",
            "therapy.dose_rise_kept",
        ),
        lambda c: c.therapy.titrate_days == 0,
        "therapy.titrate_days is 0",
        "doses are never titrated",
    ),
    Rule(
        (
            "behaviour.hypo_treatment_cv",
            "behaviour.hypo_treatment_by_weight",
            "behaviour.hypo_wait_min",
            "behaviour.hypo_threshold_mg_dl",
        ),
        lambda c: c.behaviour.hypo_treatment_g == 0,
        "behaviour.hypo_treatment_g is 0",
        "lows are not treated with rescue carbohydrate",
    ),
    Rule(
        ("behaviour.late_bolus_min",),
        lambda c: c.behaviour.miss_share == 1,
        "behaviour.miss_share is 1",
        "every bolus not given on time is missed, none is late",
    ),
    Rule(
        ("behaviour.snack_g",),
        lambda c: c.behaviour.unannounced_snacks_per_day == 0,
        "behaviour.unannounced_snacks_per_day is 0",
        "there are no unannounced snacks",
    ),
    Rule(
        ("behaviour.carb_count_cv",),
        lambda c: not c.therapy.carb_counting,
        "therapy.carb_counting is false",
        "boluses are fixed per meal slot, not dosed for counted carbohydrate",
    ),
    Rule(
        ("behaviour.programme",),
        lambda c: not c.behaviour.exercise,
        "behaviour.exercise is false",
        "no exercise session happens, the programme's included",
    ),
    Rule(
        ("episodes.stress_per_week",),
        lambda c: not c.episodes.stress,
        "episodes.stress is false",
        "no acute stress episode happens",
    ),
    Rule(
        ("episodes.stress_hours", "episodes.stress_severity"),
        _stress_off,
        "episodes.stress is false or episodes.stress_per_week is 0",
        "no acute stress episode happens",
    ),
    Rule(
        ("episodes.illness_per_year",),
        lambda c: not c.episodes.illness,
        "episodes.illness is false",
        "no illness happens",
    ),
    Rule(
        (
            "episodes.illness_days",
            "episodes.illness_severity",
            "episodes.illness_appetite",
            "therapy.sick_day_extra",
        ),
        _illness_off,
        "episodes.illness is false or episodes.illness_per_year is 0",
        "no illness happens",
    ),
    Rule(
        ("cohort.dawn_prevalence", "cohort.dawn_amplitude"),
        lambda c: not c.mechanisms.dawn,
        "mechanisms.dawn is false",
        "the dawn phenomenon is switched off (the dawn_amplitude trait recorded still changes)",
    ),
    Rule(
        ("cohort.dawn_amplitude",),
        lambda c: c.cohort.dawn_prevalence == 0,
        "cohort.dawn_prevalence is 0",
        "no patient has a dawn phenomenon",
    ),
    Rule(
        ("cohort.time_of_day_amplitude",),
        lambda c: not c.mechanisms.time_of_day,
        "mechanisms.time_of_day is false",
        "the daily sensitivity pattern is switched off (the tod_amplitude trait recorded "
        "still changes)",
    ),
    Rule(
        ("sensor.model",),
        lambda c: c.sensor.kind == "none",
        'sensor.kind is "none"',
        "the CGM reads blood glucose without noise",
    ),
    Rule(
        ("mechanisms.growth",),
        lambda c: not _groups(c) & {"child", "adolescent"},
        "cohort.groups has only adults",
        "adults (20 years and older) do not grow",
    ),
    Rule(
        ("lifestyle.adolescent_adherence_dip",),
        lambda c: "adolescent" not in _groups(c),
        "cohort.groups has no adolescents",
        "the dip acts at 13-20 years, the adolescents' ages",
    ),
    Rule(
        ("behaviour.meal_check_share",),
        lambda c: (
            c.therapy.hypo_detection == "cgm"
            or (c.therapy.hypo_detection == "mix" and c.cohort.cgm_share == 1.0)
        ),
        'therapy.hypo_detection is "cgm", or "mix" with cohort.cgm_share 1',
        "every patient wears a CGM, which shows every meal's glucose",
    ),
    Rule(
        ("lifestyle.advice_adherence_correlation",),
        lambda c: not c.therapy.follow_advice or c.therapy.titrate_days == 0,
        "therapy.follow_advice is off or therapy.titrate_days is 0",
        "every visit's advice is followed, or there are no visits",
    ),
)


def _holds(rule: Rule, cfg: RunConfig) -> bool:
    try:
        return bool(rule.inert_when(cfg))
    except AttributeError:  # a field the rule reads is gone: no warning rather than a crash
        return False


def _covers(rule_field: str, path: str) -> bool:
    return path == rule_field or path.startswith(rule_field + ".")


def _scenario_list(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:8])
    return shown + (", ..." if len(indices) > 8 else "")


def rule_warnings(path: str, configs: list[RunConfig], how: str) -> list[str]:
    """Warnings for the field `path` (`how` it was given: "swept", "--set") whose rule holds
    in every one of `configs` (the scenarios)."""
    out = []
    for rule in RULES:
        if not any(_covers(f, path) for f in rule.fields):
            continue
        if configs and all(_holds(rule, c) for c in configs):
            every = " in any scenario" if len(configs) > 1 else ""
            out.append(f"{path} ({how}) has no effect{every}: {rule.condition}, and {rule.why}")
    return out


def _value(cfg: RunConfig, section: str, field: str):
    return getattr(getattr(cfg, section), field, None)


def preset_warnings(path: str, cfg: RunConfig, scenarios, how: str) -> list[str]:
    """A warning when `path` (a section's field given in the file or by --set, not swept)
    takes another value in some scenarios because a preset selector of its section is swept
    (or, under behaviour.profile = "auto", therapy.kind): those scenarios take the preset's
    value instead."""
    swept = [*cfg.sweep.grid, *cfg.sweep.zip, *cfg.sweep.ranges]
    section, _, field = path.partition(".")
    if any(_covers(s, path) for s in swept) or not field or "." in field:
        return []
    selectors = [s for s in PRESET_SELECTORS if s in swept and s.startswith(section + ".")]
    if section == "behaviour" and "therapy.kind" in swept and cfg.behaviour.profile == "auto":
        selectors.append("therapy.kind")  # under profile auto it chooses the behaviour profile
    if not selectors or path in selectors:
        return []
    given = _value(cfg, section, field)
    replaced = [s.index for s in scenarios if _value(s.config, section, field) != given]
    if not replaced:
        return []
    plural = "s" if len(replaced) > 1 else ""
    where = (
        "in any scenario"
        if len(replaced) == len(scenarios)
        else f"in scenario{plural} {_scenario_list(replaced)} (of {len(scenarios)})"
    )
    return [
        f"{path} ({how}) has no effect {where}: {' and '.join(selectors)} is swept, and each "
        f"scenario takes its preset's {field}; to give every scenario the same value, sweep "
        f'it beside the selector (sweep.grid."{path}" = [value])'
    ]


def _leaf_paths(data, prefix: str = "") -> list[str]:
    """Dotted paths of the values of a config's contents (tables only; lists are leaves)."""
    out = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_leaf_paths(value, path + "."))
        else:
            out.append(path)
    return out


def warnings(
    cfg: RunConfig, scenarios, set_paths: Iterable[str] = (), file_data: dict | None = None
) -> list[str]:
    """Every warning for `cfg` and its expanded `scenarios` (engine/batch/scenarios.expand):
    swept fields inert in every scenario, and `--set` fields (`set_paths`, dotted) and fields
    of the file (`file_data`, its contents as read) replaced by a swept preset or inert under
    the config (a controller's target with nobody on a controller)."""
    configs = [s.config for s in scenarios]
    swept = [*cfg.sweep.grid, *cfg.sweep.zip, *sorted(cfg.sweep.ranges)]
    out = []
    for path in swept:
        out += rule_warnings(path, configs, "swept")
    for path in dict.fromkeys(set_paths):
        if path.split(".")[0] == "sweep" or path in swept:
            continue
        found = preset_warnings(path, cfg, scenarios, "--set")
        out += found or rule_warnings(path, configs, "--set")
    if file_data:
        given = set(set_paths)
        for path in _leaf_paths({k: v for k, v in file_data.items() if k != "sweep"}):
            if path not in given:
                found = preset_warnings(path, cfg, scenarios, "in the file")
                out += found or rule_warnings(path, configs, "in the file")
    return out


def set_paths(overrides: Iterable[str]) -> list[str]:
    """The dotted paths of `--set section.field=value` overrides (malformed ones skipped:
    loading the config names them)."""
    from .config import ConfigError, parse_override

    paths = []
    for item in overrides:
        try:
            path, _ = parse_override(item)
        except ConfigError:
            continue
        paths.append(".".join(path))
    return paths
