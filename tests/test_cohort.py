import numpy as np
import pytest

from engine.cohort import basal_steady_state, sample_cohort
from engine.model.fast import derivatives, meal_shape, state_tuple
from engine.model.params import N_STATES, P_GB, P_U2SS, P_VG, X_GS
from engine.reference import reference_patients

GROUPS = {"adult": 1.0, "adolescent": 1.0, "child": 1.0}


def test_steady_state_reproduces_the_reference_basal_states():
    ref = reference_patients()
    for i in range(30):
        p = ref.params[i].copy()
        x = np.empty(N_STATES)
        assert basal_steady_state(p, x)
        np.testing.assert_allclose(x, ref.x0[i], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(p, ref.params[i], rtol=1e-9)


def test_sampled_patients_start_at_rest_at_their_basal_glucose():
    c = sample_cohort(3, np.arange(300), GROUPS, 0.15)
    for i in range(len(c)):
        dx = derivatives(state_tuple(c.x0[i]), c.params[i], 0.0, c.params[i][P_U2SS],
                         meal_shape(0.0, 0.5, 0.5), 1.0, 1.0, 1.0)
        assert np.abs(dx).max() < 1e-9
        assert c.x0[i, X_GS] / c.params[i, P_VG] == pytest.approx(c.params[i, P_GB])


def test_a_patient_is_a_pure_function_of_seed_and_id():
    a = sample_cohort(11, np.arange(50), GROUPS, 0.1)
    b = sample_cohort(11, np.array([49, 7, 30]), GROUPS, 0.1)
    for k, pid in enumerate([49, 7, 30]):
        assert np.array_equal(a.params[pid], b.params[k])
        assert a.source[pid] == b.source[k]
    c = sample_cohort(12, np.arange(50), GROUPS, 0.1)
    assert not np.array_equal(a.params, c.params)


def test_patients_are_distinct_and_groups_follow_the_weights():
    c = sample_cohort(5, np.arange(3000), {"adult": 3.0, "child": 1.0}, 0.1)
    assert len(np.unique(c.params[:, 0])) == 3000
    share = (c.group == "adult").mean()
    assert abs(share - 0.75) < 0.03
    assert set(np.unique(c.group)) == {"adult", "child"}


def test_zero_jitter_gives_the_reference_patients_exactly():
    ref = reference_patients()
    c = sample_cohort(5, np.arange(40), GROUPS, 0.0)
    # the derived Vm0, kp1, u2ss agree with the table to its printed digits
    np.testing.assert_allclose(c.params, ref.params[c.source], rtol=1e-9)
