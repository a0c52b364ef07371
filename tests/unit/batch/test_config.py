import pytest

from engine.batch.config import ConfigError, load_config, loads_toml, parse_config


def test_defaults_are_valid_and_shipped_configs_load():
    cfg = parse_config({})
    assert cfg.run.n_patients >= 1
    q = load_config("configs/quickstart.toml")
    assert q.run.n_patients == 1000 and q.run.days == 30 and len(q.meals) == 4


@pytest.mark.parametrize(
    "data,needle",
    [
        (
            {"run": {"n_patients": -5}},
            "run.n_patients = -5: Input should be greater than or equal to 1",
        ),
        (
            {"run": {"n_patiens": 5}},
            "run.n_patiens = 5: unknown field; allowed here: name, seed, n_patients, days",
        ),
        ({"run": {"days": "many"}}, "run.days = 'many'"),
        (
            {"meals": [{"time_h": 25, "carbs_g": 10}]},
            "meals.0.time_h = 25: Input should be less than 24",
        ),
        ({"meals": [{"time_h": 7}]}, "meals.0.carbs_g: required field is missing"),
        (
            {"cohort": {"groups": {"elderly": 1}}},
            "unknown group 'elderly'; allowed: adolescent, adult, child",
        ),
        ({"cohort": {"groups": {"adult": 0}}}, "at least one group needs a positive weight"),
        (
            {"sensor": {"kind": "perfect"}},
            "sensor.kind = 'perfect': Input should be 'none' or 'johnson_su'",
        ),
        ({"sensor": {"interval_min": 7}}, "sensor.interval_min = 7: must divide 1440"),
        (
            {"run": {"n_patients": 10}, "output": {"traced": 50}},
            "output.traced = 50: more than run.n_patients = 10",
        ),
        ({"output": {"traced": [1, 1]}}, "patient ids must be distinct"),
        ({"colour": "blue"}, "colour = 'blue': unknown field; allowed here: run, cohort, meals"),
        # true and false are not numbers (pydantic alone ran carb_count_cv = true as 1.0)
        (
            {"behaviour": {"carb_count_cv": True}},
            "behaviour.carb_count_cv = True: a number is needed here, not true",
        ),
        ({"run": {"days": False}}, "run.days = False: a number is needed here, not false"),
        # a nan failed the bounds with "should be less than or equal to 1"
        (
            {"behaviour": {"carb_count_cv": float("nan")}},
            "behaviour.carb_count_cv = nan: Input should be a finite number",
        ),
        ({"therapy": {"step": float("inf")}}, "therapy.step = inf: Input should be a finite"),
    ],
)
def test_bad_configs_name_the_field_the_value_and_what_is_allowed(data, needle):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert needle in str(err.value)


def test_booleans_stay_booleans():
    cfg = parse_config({"therapy": {"correct": False, "carb_counting": True}})
    assert cfg.therapy.correct is False and cfg.therapy.carb_counting is True


def test_bad_toml_says_where():
    with pytest.raises(ConfigError, match="not valid TOML"):
        loads_toml("[run\nseed = 1", "x.toml")


def test_auto_block_size_gives_tasks_of_up_to_a_million_patient_days_and_at_least_16():
    cfg = parse_config({"run": {"n_patients": 10_000, "days": 365}})
    assert cfg.block_size() == 625  # 16 tasks
    cfg = parse_config({"run": {"n_patients": 100_000, "days": 365}})
    assert cfg.block_size() == 2739  # 1,000,000 // 365: 37 tasks
    cfg = parse_config({"run": {"n_patients": 1_000_000, "days": 30}})
    assert cfg.block_size() == 33_333
    cfg = parse_config({"run": {"n_patients": 1000, "days": 30}})
    assert cfg.block_size() == 64
    cfg = parse_config({"run": {"n_patients": 10, "days": 30}})
    assert cfg.block_size() == 10


def test_config_round_trips_through_toml_with_defaults_left_open():
    from engine.batch.config import to_toml

    for data in ({}, {"output": {"traced": [3, 1]}, "sensor": {"kind": "none"}}):
        cfg = parse_config(data)
        assert parse_config(loads_toml(to_toml(cfg))) == cfg


def test_real_world_is_the_default_and_the_dcct_arms_get_trial_behaviour():
    from engine.batch.config import BEHAVIOUR_PROFILES

    cfg = parse_config({})
    assert cfg.therapy.kind == "real_world" and cfg.therapy.delivery == "mix"
    assert cfg.behaviour.profile == "auto"
    assert (
        cfg.behaviour.basal_omissions_per_year
        == BEHAVIOUR_PROFILES["real_world"]["basal_omissions_per_year"]
    )
    assert cfg.behaviour.meal_check_share == BEHAVIOUR_PROFILES["real_world"]["meal_check_share"]
    assert cfg.behaviour.meal_check_share == 0.65
    trial = parse_config({"therapy": {"kind": "intensive"}})
    assert trial.behaviour.unannounced_snacks_per_day == 0.0
    assert trial.behaviour.lapse_day_share == 1.0
    assert trial.behaviour.meal_check_share == 1.0
    # a profile or a field given wins
    mixed = parse_config(
        {"therapy": {"kind": "intensive"}, "behaviour": {"unannounced_snacks_per_day": 1.0}}
    )
    assert mixed.behaviour.unannounced_snacks_per_day == 1.0
    assert mixed.behaviour.lapse_day_share == 1.0
    chosen = parse_config(
        {"therapy": {"kind": "intensive"}, "behaviour": {"profile": "real_world"}}
    )
    assert chosen.behaviour.lapse_day_share == BEHAVIOUR_PROFILES["real_world"]["lapse_day_share"]


def test_sweeping_the_therapy_lets_the_automatic_behaviour_follow_it():
    from engine.batch.scenarios import expand

    cfg = parse_config(
        {"sweep": {"grid": {"therapy.kind": ["real_world", "intensive", "conventional"]}}}
    )
    got = {s.config.therapy.kind: s.config.behaviour.lapse_day_share for s in expand(cfg)}
    assert got == {"real_world": 0.35, "intensive": 1.0, "conventional": 1.0}
