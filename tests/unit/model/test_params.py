from engine.model import params


def test_index_constants_match_the_names():
    for i, name in enumerate(params.PARAM_NAMES):
        assert getattr(params.P, name) == i
    for i, name in enumerate(params.STATE_NAMES):
        assert getattr(params.X, name) == i
    assert params.P.Vmx == 8 and params.X.Gp == 3 and params.X.Gs == 12  # simglucose's order
    assert params.N_PARAMS == len(params.PARAM_NAMES) == len(params.PARAM_UNITS)
    assert len(params.STATE_NAMES) == len(params.STATE_UNITS) == params.N_STATES == 13
