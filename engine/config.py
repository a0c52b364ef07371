"""The schema of a run (pydantic), TOML loading, and errors that name the field.

Every field has a default except where a run cannot guess (none today), bounds that say what
is allowed, and unknown fields are refused so a typo never passes silently.
"""
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .reference import GROUPS


class ConfigError(ValueError):
    """A config that cannot run; the message names the field, the value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunSection(_Section):
    name: str = Field("t1dmc run", description="label stored in the results")
    seed: int = Field(20261127, ge=0, lt=2 ** 64, description="seed of the counter-based generator")
    n_patients: int = Field(1000, ge=1, le=100_000_000, description="patients per scenario")
    days: int = Field(30, ge=1, le=36_500, description="simulated days")


class CohortSection(_Section):
    groups: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: {"adult": 1.0},
        description="relative weights of the reference groups (adolescent, adult, child)")
    jitter_cv: float = Field(0.10, ge=0.0, le=0.5, description=(
        "coefficient of variation of the log-normal jitter applied to each kinetic parameter "
        "of the resampled reference patient"))

    @field_validator("groups")
    @classmethod
    def _known_groups(cls, v):
        unknown = sorted(set(v) - set(GROUPS))
        if unknown:
            raise ValueError(f"unknown group {unknown[0]!r}; allowed: {', '.join(GROUPS)}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one group needs a positive weight")
        return v


class MealSlot(_Section):
    name: str = "meal"
    time_h: float = Field(..., ge=0.0, lt=24.0, description="habitual time, hours after midnight")
    time_sd_min: float = Field(30.0, ge=0.0, le=240.0, description="SD of the time, minutes")
    carbs_g: float = Field(..., gt=0.0, le=300.0, description="mean carbohydrate, g")
    carbs_cv: float = Field(0.25, ge=0.0, le=1.0, description="CV of the amount (log-normal)")
    probability: float = Field(1.0, ge=0.0, le=1.0, description="chance it is eaten on a day")


def _default_meals():
    # simglucose's S1 scenario times and sizes (45 g 07:00, 70 g 12:00, 80 g 18:00) plus an
    # afternoon snack on half of the days.
    return [MealSlot(name="breakfast", time_h=7.0, carbs_g=45.0),
            MealSlot(name="lunch", time_h=12.0, carbs_g=70.0),
            MealSlot(name="dinner", time_h=18.0, carbs_g=80.0),
            MealSlot(name="snack", time_h=15.5, carbs_g=20.0, probability=0.5)]


class TherapySection(_Section):
    kind: Literal["simglucose_basal_bolus"] = Field(
        "simglucose_basal_bolus", description="therapy rule (more in later versions)")
    target_mg_dl: float = Field(140.0, ge=70.0, le=250.0, description="correction target")


class SensorSection(_Section):
    kind: Literal["none", "johnson_su"] = Field(
        "johnson_su", description="noise-free CGM or Breton & Kovatchev 2008 Johnson-SU noise")
    model: Literal["Dexcom", "GuardianRT", "Navigator"] = Field(
        "Dexcom", description="noise parameters from simglucose's sensor table")
    interval_min: int = Field(5, ge=1, le=60, description="CGM sample interval, minutes")


class OutputSection(_Section):
    traced: int | list[int] | None = Field(None, description=(
        "patients whose traces are kept: a count (the first ids) or a list of ids; "
        "default: the first 10 (or all, if fewer)"))
    trace_interval_min: int = Field(5, ge=1, le=60, description="trace sample interval")

    @field_validator("traced")
    @classmethod
    def _traced(cls, v):
        if isinstance(v, int) and not isinstance(v, bool) and v < 0:
            raise ValueError("must be >= 0")
        if isinstance(v, list):
            if any(i < 0 for i in v):
                raise ValueError("patient ids are >= 0")
            if len(set(v)) != len(v):
                raise ValueError("patient ids must be distinct")
        return v


class ExecutionSection(_Section):
    block_size: int = Field(0, ge=0, le=1_000_000, description=(
        "patients per task and per zarr chunk; 0 picks about 20,000 patient-days per task"))
    workers: int = Field(0, ge=0, le=4096, description="threads on the local machine; 0 = all cores")


class Range(_Section):
    low: float = Field(..., description="lower bound")
    high: float = Field(..., description="upper bound")
    log: bool = Field(False, description="sample uniformly in log space")
    integer: bool = Field(False, description="round to an integer")

    @model_validator(mode="after")
    def _ordered(self):
        if not self.high > self.low:
            raise ValueError(f"high = {self.high} must exceed low = {self.low}")
        if self.log and self.low <= 0:
            raise ValueError(f"log sampling needs low > 0, got {self.low}")
        return self


class SweepSection(_Section):
    grid: dict[str, list[Any]] = Field(default_factory=dict, description=(
        "full factorial: every combination of these fields' values (dotted config paths)"))
    zip: dict[str, list[Any]] = Field(default_factory=dict, description=(
        "lists of equal length that advance together (one scenario per position)"))
    ranges: dict[str, Range] = Field(default_factory=dict, description=(
        "fields sampled in [low, high] for `n` scenarios"))
    method: Literal["random", "lhs"] = Field("lhs", description="how `ranges` are sampled")
    n: int = Field(0, ge=0, le=100_000, description="scenarios drawn from `ranges`")
    common_random_numbers: bool = Field(True, description=(
        "every scenario sees the same patients living the same lives (paired comparisons); "
        "false gives each scenario its own random numbers"))

    @model_validator(mode="after")
    def _consistent(self):
        lengths = {len(v) for v in self.zip.values()}
        if len(lengths) > 1:
            raise ValueError(f"zip lists differ in length: "
                             f"{ {k: len(v) for k, v in self.zip.items()} }")
        for name, values in (*self.grid.items(), *self.zip.items()):
            if not values:
                raise ValueError(f"{name}: give at least one value")
        if self.ranges and self.n < 1:
            raise ValueError("ranges given: set n, the number of sampled scenarios")
        if self.n and not self.ranges:
            raise ValueError(f"n = {self.n} but no ranges to sample")
        both = set(self.grid) & set(self.zip) | (set(self.grid) | set(self.zip)) & set(self.ranges)
        if both:
            raise ValueError(f"{sorted(both)[0]}: swept in more than one way")
        return self

    def is_empty(self) -> bool:
        return not (self.grid or self.zip or self.ranges)


class ClusterSection(_Section):
    kind: Literal["local", "slurm"] = Field("local", description=(
        "local: this machine; slurm: dask-jobqueue SLURMCluster (workers are SLURM jobs)"))
    queue: str | None = Field(None, description="SLURM partition")
    account: str | None = Field(None, description="SLURM account")
    cores: int = Field(1, ge=1, le=1024, description="cores per job")
    processes: int = Field(1, ge=1, le=1024, description="worker processes per job")
    memory: str = Field("4GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
                        description="memory per job, e.g. 4GB")
    walltime: str = Field("01:00:00", pattern=r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$",
                          description="job time limit HH:MM:SS")
    jobs: int = Field(1, ge=1, le=100_000, description="jobs to start (or the adaptive maximum)")
    adaptive: bool = Field(False, description="scale between 0 and `jobs` with the load")
    interface: str | None = Field(None, description="network interface for the scheduler, e.g. ib0")
    job_extra_directives: list[str] = Field(default_factory=list, description=(
        "extra #SBATCH lines, e.g. ['--qos=short']"))
    local_directory: str | None = Field(None, description="node-local scratch for workers")


class RunConfig(_Section):
    run: RunSection = Field(default_factory=RunSection)
    cohort: CohortSection = Field(default_factory=CohortSection)
    meals: list[MealSlot] = Field(default_factory=_default_meals, max_length=16)
    therapy: TherapySection = Field(default_factory=TherapySection)
    sensor: SensorSection = Field(default_factory=SensorSection)
    output: OutputSection = Field(default_factory=OutputSection)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    sweep: SweepSection = Field(default_factory=SweepSection)
    cluster: ClusterSection = Field(default_factory=ClusterSection)

    @model_validator(mode="after")
    def _cross_checks(self):
        n = self.run.n_patients
        traced = self.output.traced
        if isinstance(traced, int) and traced > n:
            raise ValueError(f"output.traced = {traced}: more than run.n_patients = {n}")
        if isinstance(traced, list) and any(i >= n for i in traced):
            bad = max(traced)
            raise ValueError(f"output.traced = {traced}: id {bad} is not below "
                             f"run.n_patients = {n}")
        for name in ("interval_min",):
            if 1440 % getattr(self.sensor, name):
                raise ValueError(f"sensor.{name} = {getattr(self.sensor, name)}: must divide 1440")
        if 1440 % self.output.trace_interval_min:
            raise ValueError(f"output.trace_interval_min = {self.output.trace_interval_min}: "
                             "must divide 1440")
        return self

    def traced_ids(self) -> list[int]:
        t = self.output.traced
        if t is None:
            return list(range(min(10, self.run.n_patients)))
        return list(range(t)) if isinstance(t, int) else sorted(t)

    def block_size(self) -> int:
        if self.execution.block_size:
            return min(self.execution.block_size, self.run.n_patients)
        # about 20,000 patient-days per task (seconds of work), but at least 16 tasks when
        # there are enough patients, so progress and load balance stay fine-grained
        n, d = self.run.n_patients, self.run.days
        return min(n, max(64, min(20_000 // d, -(-n // 16))))


def _model_at(loc) -> type[BaseModel]:
    """The section model that a location inside RunConfig points to."""
    model = RunConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue
        candidates = (field.annotation, *getattr(field.annotation, "__args__", ()))
        sub = [a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)]
        if not sub:
            break
        model = sub[0]
    return model


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(_model_at(e["loc"][:-1]).model_fields)
            lines.append(f"{loc} = {e['input']!r}: unknown field; allowed here: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required field is missing")
        elif loc:
            lines.append(f"{loc} = {e['input']!r}: {msg}")
        else:
            lines.append(msg)
    return "invalid config:\n  " + "\n  ".join(lines)


def parse_config(data: dict) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err)) from None


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config {str(path)!r}: {err.strerror}") from None
    return parse_config(loads_toml(text, str(path)))


def loads_toml(text: str, name: str = "<config>") -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{name}: not valid TOML: {err}") from None


def to_toml(cfg: RunConfig) -> str:
    import tomli_w
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
