"""Cross-checks of the exact oracle against the classical closed forms (issue 3)."""

import jax
import numpy as np
import pytest

from morl_mm.env import MarketMakingEnv
from morl_mm.env.scales import reference_scales
from morl_mm.evaluation.rollouts import evaluate_policy
from morl_mm.oracle import solve
from morl_mm.policies.classical import (
    AvellanedaStoikov,
    CarteaJaimungal,
    FixedSpread,
    GueantLehalleFernandezTapia,
    GueantLehalleFernandezTapiaExact,
    LinearSkew,
)


@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.3, 0.3, 0.4), (0.1, 0.6, 0.3)])
def test_oracle_beats_every_classical_strategy(weights):
    """At each weight the exact optimum's scalarised value is >= every classical policy's (up to MC noise)."""
    env = MarketMakingEnv()  # continuous mode: the oracle optimises over a 0.02 depth grid
    params = env.make_params(horizon=0.2, inventory_limit=5.0)
    scales = reference_scales(env, params)
    w = np.asarray(weights) / scales
    optimum = solve(env, params, weights, scales)
    policies = [
        AvellanedaStoikov(env, params, 0.1),
        AvellanedaStoikov(env, params, 1.0),
        GueantLehalleFernandezTapia(env, params, 0.1),
        GueantLehalleFernandezTapiaExact(env, params, 0.1),
        CarteaJaimungal(env, params, phi=0.05, alpha=0.001),
        FixedSpread(env, 0.65),
        LinearSkew(env, 0.65, 0.1),
    ]
    for policy in policies:
        traj = evaluate_policy(env, params, policy, jax.random.key(1), 2000)
        utility = np.asarray(traj.reward, np.float64).sum(axis=1) @ w
        se = utility.std(ddof=1) / np.sqrt(len(utility))
        assert utility.mean() <= optimum.scalarised_value + 4 * se, (type(policy).__name__, utility.mean())


def test_cartea_jaimungal_value_matches_the_dp_as_dt_shrinks():
    """With w = (a, b, 0) and unit scales the DP maximises a (pnl - (b/a) sigma^2 int q^2 dt - alpha q_T^2):
    Cartea-Jaimungal's problem with phi = (b/a) sigma^2. Its h(0, 0) is the DP's value / a in the limit dt -> 0."""
    a, b, alpha = 0.8, 0.2, 0.01
    gaps = []
    for dt in (0.005, 0.0025, 0.00125):
        env = MarketMakingEnv()
        params = env.make_params(dt=dt, inventory_limit=5.0, liquidation_penalty=alpha)
        phi = b / a * float(params.sigma) ** 2
        solution = solve(env, params, (a, b, 0.0), scales=np.ones(3))
        q0 = int(np.flatnonzero(np.isclose(solution.inventory_grid, 0.0))[0])
        dp_value = float(solution.value[0, q0, 0]) / a
        cj_value = float(CarteaJaimungal(env, params, phi=phi, alpha=alpha).value_h(0, 0))
        gaps.append(abs(dp_value - cj_value) / abs(cj_value))
    assert gaps[0] > gaps[1] > gaps[2], gaps  # converges as dt shrinks
    assert gaps[-1] < 0.01, gaps  # measured: 2.1%, 1.0%, 0.5% (first order in dt)
