from engine.model import params


def test_index_constants_match_the_names():
    for i, name in enumerate(params.PARAM_NAMES):
        assert getattr(params.P, name) == i
    for i, name in enumerate(params.STATE_NAMES):
        assert getattr(params.X, name) == i
    assert params.P.Vmx == 8 and params.X.Gp == 3 and params.X.Gs == 12   # simglucose's order
    assert params.N_PARAMS == len(params.PARAM_NAMES) == len(params.PARAM_UNITS)
    assert len(params.STATE_NAMES) == len(params.STATE_UNITS) == params.N_STATES == 13


def test_reference_patients_load_with_units_of_the_reference():
    from engine.population.reference import reference_patients
    ref = reference_patients()
    assert len(ref.names) == 30 and ref.params.shape == (30, params.N_PARAMS)
    adult1 = ref.params[ref.index("adult#001")]
    assert adult1[params.P.BW] == 102.32           # kg, simglucose vpatient_params.csv
    assert adult1[params.P.CR] == 10.0 and adult1[params.P.CF] == 8.77310657487  # Quest.csv
    assert ref.groups.count("child") == 10
