from engine.model import params


def test_reference_patients_load_with_units_of_the_reference():
    from engine.population.reference import reference_patients

    ref = reference_patients()
    assert len(ref.names) == 30 and ref.params.shape == (30, params.N_PARAMS)
    adult1 = ref.params[ref.index("adult#001")]
    assert adult1[params.P.BW] == 102.32  # kg, simglucose vpatient_params.csv
    assert adult1[params.P.CR] == 10.0 and adult1[params.P.CF] == 8.77310657487  # Quest.csv
    assert ref.groups.count("child") == 10
