import math

import numpy as np
import pytest

from engine.analysis.stats import Z_975, t975


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) by integrating Student's density (Simpson, fine enough for 1e-7)."""
    x = np.linspace(0.0, t, 200_001)
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    f = c * (1.0 + x * x / df) ** (-(df + 1) / 2)
    h = x[1] - x[0]
    simpson = h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    return 0.5 + simpson


@pytest.mark.parametrize("df", [*range(1, 31), 31, 40, 60, 100, 1000])
def test_t975_is_the_97_5_percent_quantile(df):
    # df 1's tail is heavy: its density integrated to 12.7 still holds to 1e-6
    assert t_cdf(t975(df), df) == pytest.approx(0.975, abs=1e-6)


def test_t975_between_whole_df_and_at_the_edges():
    assert t975(1e9) == pytest.approx(Z_975, abs=1e-8)
    assert t975(7.5) < t975(7) and t975(7.5) > t975(8)
    assert t_cdf(t975(7.5), 7.5) == pytest.approx(0.975, abs=2e-4)
    assert math.isnan(t975(0.5)) and math.isnan(t975(float("nan")))
