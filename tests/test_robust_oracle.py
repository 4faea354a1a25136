"""The exact robust oracle (issue 11): max-min against a per-step adversary in a box of params."""

import json

import jax
import numpy as np
import pytest

from morl_mm.env import EnvConfig, MarketMakingEnv, n_steps, rollout
from morl_mm.env.adversary import AdversarialEnv, parse_adversary
from morl_mm.oracle import evaluate, solve
from morl_mm.oracle.__main__ import main as oracle_main
from morl_mm.oracle.robust import (
    RobustCoverageSet,
    RobustSolver,
    evaluate_robust,
    robust_coverage_set,
    solve_robust,
    worst_case_adversary,
    worst_case_tables,
    worst_case_values,
)
from morl_mm.policies.table import TablePolicy

# 40 steps, inventories -4..4, the env's 8-depth grid: every solve takes milliseconds
SMALL = dict(horizon=0.2, inventory_limit=4.0, competitive_distance=0.9)
ENV = MarketMakingEnv(action_mode="discrete")
PARAMS = ENV.make_params(**SMALL)
SCALES = np.ones(3)
WEIGHTS = [np.array([0.5, 0.3, 0.2]), np.array([0.1, 0.7, 0.2])]
BOX = parse_adversary("drift=-2:2,arrival_rate=100:180,kappa=1:2")


@pytest.fixture(scope="module")
def solver():
    return RobustSolver(ENV, PARAMS, BOX, scales=SCALES)


def test_robust_value_is_below_the_plain_optimum_and_every_vertex_model(solver):
    for w, robust in zip(WEIGHTS, solver(WEIGHTS)):
        plain = solve(ENV, PARAMS, w, scales=SCALES)
        assert robust.scalarised_value < plain.scalarised_value - 1e-3
        # a per-step adversary may play one vertex throughout: the robust value is below each vertex's optimum
        for vertex in BOX.vertices():
            fixed = solve(ENV, BOX.set_values(PARAMS, vertex), w, scales=SCALES)
            assert robust.scalarised_value <= fixed.scalarised_value + 1e-9
        # max-min: the plain optimum does worse than the robust table against its own worst case
        plain_worst = solver.evaluate(plain.action_table, w)
        assert plain_worst.scalarised_value <= robust.scalarised_value + 1e-12
        again = solver.evaluate(robust.solution.action_table, w)  # exact evaluation reproduces the solve
        np.testing.assert_allclose(again.objective_values, robust.objective_values, atol=1e-10)
        np.testing.assert_array_equal(again.response_table, robust.response_table)
        assert np.dot(w, robust.objective_values) == pytest.approx(robust.scalarised_value, abs=1e-10)


def test_a_point_box_gives_the_plain_solution():
    box = parse_adversary("drift=0:0,arrival_rate=140:140,kappa=1.5:1.5")
    for w in WEIGHTS:
        plain = solve(ENV, PARAMS, w, scales=SCALES)
        robust = solve_robust(ENV, PARAMS, w, box, scales=SCALES)
        np.testing.assert_allclose(robust.objective_values, plain.objective_values, atol=1e-10)
        np.testing.assert_allclose(robust.solution.value, plain.value, atol=1e-10)
        np.testing.assert_allclose(
            evaluate(ENV, PARAMS, robust.solution.action_table), plain.objective_values, atol=1e-10
        )


def _vertex_gap(env, params, box, weights, fine_resolution, steps=(0, 20, 39)):
    """Vertex minimum minus fine-grid minimum of the one-step value Q_v (robust continuation), at
    every joint action and at the max-min actions; and the robust values of the two games."""
    vertices = RobustSolver(env, params, box, scales=np.ones(env.num_objectives))
    fine = RobustSolver(env, params, box, scales=np.ones(env.num_objectives), resolution=fine_resolution)
    robust, robust_fine = vertices(weights)[0], fine(weights)[0]
    every, chosen = 0.0, 0.0
    for t in steps:
        gap = vertices.one_step_values(robust, t).min(0) - fine.one_step_values(robust, t).min(0)
        assert gap.min() >= -1e-12  # the vertices are among the grid's points
        table = robust.solution.action_table[t]
        every = max(every, gap.max())
        chosen = max(chosen, np.take_along_axis(gap.reshape(*table.shape, -1), table[..., None], -1).max())
    return every, chosen, robust.scalarised_value, robust_fine.scalarised_value


def test_drift_and_sigma_take_their_minimum_at_the_vertices():
    """Linear in drift (adverse selection: concave), decreasing in sigma: the vertex minimum is the
    box's at every quote, so the vertex game is the box's game."""
    env = MarketMakingEnv(
        EnvConfig(objectives=("pnl", "inventory_risk", "quoting_ratio", "adverse_selection"), action_mode="discrete")
    )
    every, chosen, value, value_fine = _vertex_gap(
        env,
        env.make_params(**SMALL, adverse_impact=0.05),
        parse_adversary("drift=-2:2,sigma=1:3"),
        np.full(4, 0.25),
        fine_resolution=5,
    )
    assert every < 1e-12 and chosen < 1e-12
    assert value == pytest.approx(value_fine, abs=1e-12)


def test_arrival_rate_and_kappa_can_have_interior_minima_but_not_at_the_max_min_quotes():
    """Q_v is quadratic in A and a sum of exponentials in kappa: some quotes' minimum over the box is
    interior (the grid finds a lower value than every vertex); at the max-min quotes it is not, and
    the vertex game's robust value equals the fine grid's (on this model)."""
    every, chosen, value, value_fine = _vertex_gap(ENV, PARAMS, BOX, np.array([0.1, 0.8, 0.1]), fine_resolution=3)
    assert every > 1e-3
    assert chosen < 1e-12
    assert value == pytest.approx(value_fine, abs=1e-12)


def test_monte_carlo_against_the_worst_case_adversary_matches_the_exact_value(solver):
    """The robust table rolled out against worst_case_adversary (params set per step, the quote's side
    terms computed in jnp at the placed depth) has the exact expected objective vector."""
    env, params, weights = ENV, PARAMS, WEIGHTS[0]
    robust = solver(weights)[0]
    adversarial = AdversarialEnv(env, BOX, worst_case_adversary(env, params, robust))
    policy = TablePolicy.from_solution(env, robust.solution)
    plain = TablePolicy.from_solution(env, solve(env, params, weights, scales=SCALES))
    episodes = 4000
    keys = jax.random.split(jax.random.key(3), episodes)
    returns_of = jax.jit(
        jax.vmap(
            lambda k, table: rollout(adversarial, policy, k, params, n_steps(params), policy_params=table).reward.sum(
                0
            ),
            in_axes=(0, None),
        )
    )
    returns = np.asarray(returns_of(keys, policy.params), np.float64)
    error = returns.std(0, ddof=1) / np.sqrt(episodes)
    assert np.all(np.abs(returns.mean(0) - robust.objective_values) < 4 * error + 1e-6), (
        returns.mean(0),
        robust.objective_values,
        error,
    )
    # the plain optimum loses more against the same adversary (common random numbers)
    against_plain = np.asarray(returns_of(keys, plain.params), np.float64)
    assert np.dot(weights, against_plain.mean(0)) < np.dot(weights, returns.mean(0))


def test_the_rollout_adversary_answers_the_table_as_the_exact_response(solver):
    """At every (t, q) the jitted worst case of the table's action is worth what the exact response is
    worth (indices may differ only on exact ties, e.g. +-drift at q = 0 with a symmetric quote)."""
    robust = solver(WEIGHTS[0])[0]
    tables = worst_case_tables(ENV, PARAMS, robust)
    policy = TablePolicy.from_solution(ENV, robust.solution)
    _, state = ENV.reset_env(jax.random.key(0), PARAMS)
    times, inventories = np.meshgrid(np.arange(n_steps(PARAMS)), robust.solution.inventory_grid, indexing="ij")

    def chosen(t, q):
        s = state.replace(time=t, inventory=q)
        return worst_case_values(ENV, tables, s, policy.act(policy.params, None, s, None), PARAMS)

    values = np.asarray(jax.jit(jax.vmap(chosen))(times.ravel(), inventories.ravel().astype(np.float32)))
    index = (np.abs(values[:, None, :] - BOX.vertices()[None].astype(np.float32)).max(-1) < 1e-6).argmax(1)
    index = index.reshape(times.shape)
    for t in range(n_steps(PARAMS)):
        q_values = solver.one_step_values(robust, t)[..., 0, :, :]  # (V, Q, S, S)
        action = robust.solution.action_table[t, :, 0]
        per_vertex = q_values.reshape(*q_values.shape[:2], -1)[:, np.arange(action.size), action]  # (V, Q)
        got = per_vertex[index[t], np.arange(action.size)]
        exact = per_vertex[robust.response_table[t, :, 0], np.arange(action.size)]
        np.testing.assert_allclose(got, exact, atol=1e-5)


def test_robust_front_is_a_weight_grid_of_max_min_points():
    box = parse_adversary("drift=-2:2")
    front = robust_coverage_set(ENV, PARAMS, box, divisions=2, scales=SCALES)
    assert isinstance(front, RobustCoverageSet) and front.method == "robust-grid" and front.n_solves == 6
    assert 2 <= len(front.points) <= 6 and front.response_tables.shape[0] == len(front.points)
    for w, point in zip(front.weights, front.points):  # each point is the robust value at its own weight
        assert np.dot(w, point) == pytest.approx(solve_robust(ENV, PARAMS, w, box, scales=SCALES).scalarised_value)
    assert front.to_dict()["adversary"] == {"mode": "step", "bounds": {"drift": [-2.0, 2.0]}}


def test_bad_boxes_and_weights_raise():
    with pytest.raises(ValueError, match="per-step"):
        RobustSolver(ENV, PARAMS, parse_adversary("drift=-1:1", mode="episode"))
    with pytest.raises(ValueError, match="arrival_rate"):
        RobustSolver(ENV, PARAMS, parse_adversary("arrival_rate=100:300"))  # A dt > 1 at a corner
    with pytest.raises(ValueError, match="weights"):
        evaluate_robust(ENV, PARAMS, np.zeros((40, 9), np.int32), [0.5, 0.6, 0.1], BOX, scales=SCALES)


def test_cli_solves_one_weight_robust_as_json(capsys):
    args = [
        "--action-mode",
        "discrete",
        "--param",
        "horizon=0.2",
        "--param",
        "inventory_limit=4",
        "--json",
        "--adversary",
        "drift=-2:2",
        "--weights",
    ]
    assert oracle_main(args + ["0.4,0.3,0.3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"weights", "objectives", "value", "scales"}
    assert out["weights"] == [0.4, 0.3, 0.3] and list(out["objectives"]) == list(ENV.objectives)
    normalised = np.array(list(out["objectives"].values())) / np.array(out["scales"])
    assert out["value"] == pytest.approx(float(np.dot(out["weights"], normalised)))
    params = ENV.make_params(horizon=0.2, inventory_limit=4.0)
    robust = solve_robust(ENV, params, out["weights"], parse_adversary("drift=-2:2"), scales=out["scales"])
    plain = solve(ENV, params, out["weights"], scales=out["scales"])
    assert out["value"] == pytest.approx(robust.scalarised_value, abs=1e-12)
    assert out["value"] < plain.scalarised_value
    with pytest.raises(SystemExit):
        oracle_main(args + ["0.5,0.6,0.3"])
    assert "must sum to 1" in capsys.readouterr().err
