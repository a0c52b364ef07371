"""Scenarios of a sweep: the config's [sweep] expanded into one validated config per scenario.

grid x zip x sampled ranges: every combination of the grid's values, each paired with every
position of the zipped lists and every sampled point. Each swept field (a dotted config path,
`meals.0.carbs_g` indexes a list) becomes a coordinate on `scenario` in the results.
"""

import copy
import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..model import rng
from .config import (
    BEHAVIOUR_PROFILES,
    CONTROLLER_DEFAULTS,
    LIFESTYLE_PROFILES,
    THERAPY_PRESETS,
    ConfigError,
    RunConfig,
    parse_config,
)

# Fields that fix the store's layout or how it is computed, not what is simulated.
NOT_SWEEPABLE = ("run.n_patients", "run.days", "output", "execution", "sweep", "cluster")
# Fields that change who the patients are: per-patient variables then vary by scenario (the
# device flags uses_pump, uses_cgm and uses_aid always do: results.SCENARIO_FLAGS).
# mechanisms.kidney_glycosuria, renal_splay and brain_uptake_in_lows set parameters when the
# patients are drawn.
COHORT_FIELDS = (
    "cohort",
    "run.seed",
    "lifestyle",
    "genetics",
    "mechanisms.kidney_glycosuria",
    "mechanisms.renal_splay",
    "mechanisms.brain_uptake_in_lows",
)
# Tables whose keys are the user's (a controller's settings, the age groups): a sweep may
# name one of their keys that the base config does not give; the scenario's validation checks it.
OPEN_TABLES = ("therapy.controller_settings", "cohort.groups")
SWEEP_SEED_PATIENT = 0xFFFFFFFF  # generator key of the sampler (no patient has this id)
# Fields that select a preset of their section: sweeping one re-applies that preset's fields
# (a scenario "conventional" gets all of the conventional preset, not the base's values).
PRESET_SELECTORS = {
    "therapy.kind": THERAPY_PRESETS,
    "lifestyle.profile": LIFESTYLE_PROFILES,
    "behaviour.profile": BEHAVIOUR_PROFILES,
    # a controller brings its calibrated target and maximum basal (config.CONTROLLER_DEFAULTS)
    "therapy.controller": CONTROLLER_DEFAULTS,
}


@dataclass(frozen=True)
class Scenario:
    index: int
    name: str
    values: dict  # swept path -> value
    config: RunConfig  # the whole config with the values applied
    seed: int  # the scenario's random-number seed


def _check_path(cfg_dict: dict, path: str) -> None:
    if any(path == p or path.startswith(p + ".") for p in NOT_SWEEPABLE):
        raise ConfigError(
            f"sweep: {path} cannot be swept: it fixes the results' layout or "
            f"execution (not sweepable: {', '.join(NOT_SWEEPABLE)})"
        )
    if path.rpartition(".")[0] in OPEN_TABLES:
        return  # a key of a table of the user's own keys (checked with each scenario)
    node = cfg_dict
    for part in path.split("."):
        if isinstance(node, list):
            if not (part.isdigit() and int(part) < len(node)):
                raise ConfigError(
                    f"sweep: {path}: {part!r} is not an index of a list of {len(node)}"
                )
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                raise ConfigError(
                    f"sweep: {path}: no field {part!r}; allowed here: {', '.join(node) or '(none)'}"
                )
            node = node[part]
        else:
            raise ConfigError(f"sweep: {path}: {part!r} goes below a value")


def _set_path(cfg_dict: dict, path: str, value) -> None:
    if path in PRESET_SELECTORS:
        section, field = path.split(".")
        presets = PRESET_SELECTORS[path]
        old = cfg_dict.get(section, {})
        drop = set(presets.get(old.get(field), {})) | set(presets.get(value, {}))
        cfg_dict[section] = {k: v for k, v in old.items() if k not in drop}
        behaviour = cfg_dict.get("behaviour", {})
        if path == "therapy.kind" and behaviour.get("profile", "auto") == "auto":
            # the automatic behaviour profile follows the therapy: let it be chosen anew
            fields = {k for p in BEHAVIOUR_PROFILES.values() for k in p}
            cfg_dict["behaviour"] = {k: v for k, v in behaviour.items() if k not in fields}
    parts = path.split(".")
    node = cfg_dict
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _sample_ranges(cfg: RunConfig) -> list[dict]:
    """n points in the ranges, random or Latin hypercube, from the counter-based generator."""
    sw = cfg.sweep
    names = sorted(sw.ranges)
    seed = np.uint64(cfg.run.seed)
    points = [{} for _ in range(sw.n)]
    for j, name in enumerate(names):
        r = sw.ranges[name]
        u = np.array(
            [rng.uniform(seed, SWEEP_SEED_PATIENT, s, rng.STREAM_SWEEP, j) for s in range(sw.n)]
        )
        if sw.method == "lhs":
            order = np.argsort(
                [
                    rng.uniform(seed, SWEEP_SEED_PATIENT, s, rng.STREAM_SWEEP, 1000 + j)
                    for s in range(sw.n)
                ],
                kind="stable",
            )
            strata = np.empty(sw.n)
            strata[order] = np.arange(sw.n)
            u = (strata + u) / sw.n
        lo, hi = (math.log(r.low), math.log(r.high)) if r.log else (r.low, r.high)
        vals = lo + u * (hi - lo)
        if r.log:
            vals = np.exp(vals)
        for s in range(sw.n):
            points[s][name] = int(round(vals[s])) if r.integer else float(vals[s])
    return points


def _label(values: dict) -> str:
    """`field=value, ...`, each field by the shortest end of its path that no other swept
    field shares (`kind` alone, or `therapy.kind, sensor.kind` when both are swept)."""
    if not values:
        return "baseline"
    paths = [p.split(".") for p in values]
    parts = []
    for path, v in zip(paths, values.values(), strict=True):
        k = 1
        while k < len(path) and any(q != path and q[-k:] == path[-k:] for q in paths):
            k += 1
        v = f"{v:.4g}" if isinstance(v, float) else str(v)
        parts.append(f"{'.'.join(path[-k:])}={v}")
    return ", ".join(parts)


def scenario_seed(seed: int, index: int, common_random_numbers: bool) -> int:
    """The scenario's generator seed: the run's (common random numbers) or one derived from
    (seed, scenario) through Philox, so decorrelated scenarios never share streams."""
    if common_random_numbers:
        return seed
    w = rng.philox4x32_10(index, rng.STREAM_SWEEP, 0xFFFFFFFF, 0, seed & 0xFFFFFFFF, seed >> 32)
    return (int(w[0]) << 32) | int(w[1])


def _selector_rank(path: str) -> int:
    selectors = list(PRESET_SELECTORS)
    return selectors.index(path) if path in selectors else len(selectors)


def expand(cfg: RunConfig) -> list[Scenario]:
    sw = cfg.sweep
    base = cfg.model_dump(mode="json", exclude_none=True)
    for path in (*sw.grid, *sw.zip, *sw.ranges):
        _check_path(base, path)
    grid_axes = [[(k, v) for v in vals] for k, vals in sw.grid.items()]
    grid_points = [dict(p) for p in itertools.product(*grid_axes)] or [{}]
    n_zip = len(next(iter(sw.zip.values()))) if sw.zip else 0
    zip_points = [{k: vals[i] for k, vals in sw.zip.items()} for i in range(n_zip)] or [{}]
    sampled = _sample_ranges(cfg) if sw.ranges else [{}]
    out = []
    for g, z, r in itertools.product(grid_points, zip_points, sampled):
        values = {**g, **z, **r}
        d = copy.deepcopy({k: v for k, v in base.items() if k != "sweep"})
        # preset selectors first, in PRESET_SELECTORS's order whatever the file's (the
        # controller's tuning goes over the therapy preset's), so that fields swept beside
        # them override the presets
        for path, v in sorted(values.items(), key=lambda kv: _selector_rank(kv[0])):
            _set_path(d, path, v)
        index = len(out)
        try:
            scfg = parse_config(d)
        except ConfigError as err:
            shown = ", ".join(f"{k} = {v!r}" for k, v in values.items())
            detail = str(err).split("\n", 1)[1]
            whole = [
                k
                for k in r
                if f"{k} = {r[k]!r}: Input should be a valid integer, got a number with a "
                "fractional part"
                in detail
                and not sw.ranges[k].integer
            ]
            if whole:  # a whole-number field sampled as a real: say how to sample whole numbers
                detail += (
                    f"\n  (sweep.ranges.{whole[0]} samples real numbers; a whole-number field "
                    "needs integer = true)"
                )
            raise ConfigError(
                f"sweep scenario {index} ({shown}) is not a valid config:\n" + detail
            ) from None
        seed = scenario_seed(scfg.run.seed, index, sw.common_random_numbers)
        out.append(Scenario(index, _label(values), values, scfg, seed))
    return out


def swept_paths(cfg: RunConfig) -> list[str]:
    sw = cfg.sweep
    return [*sw.grid, *sw.zip, *sorted(sw.ranges)]


def cohort_varies(cfg: RunConfig) -> bool:
    """Whether scenarios may differ in who the patients are."""
    if not cfg.sweep.common_random_numbers and not cfg.sweep.is_empty():
        return True
    return any(p == f or p.startswith(f + ".") for p in swept_paths(cfg) for f in COHORT_FIELDS)
