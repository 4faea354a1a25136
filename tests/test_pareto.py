"""Pareto sets, indicators and policy selection (issue 4 part 3, issue 5 part 4). Hand-checked fronts."""

import itertools
import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from morl_mm.pareto import (
    InfeasibleSelectionError,
    ParetoSet,
    cardinality,
    equally_spaced_weights,
    eum_ratio,
    expected_utility,
    expected_utility_loss,
    hv_reference_point,
    hypervolume,
    hypervolume_ratio,
    igd,
    igd_plus,
    nondominated_mask,
    simplex_weights,
    sparsity,
)

OBJECTIVES = ("pnl", "inventory_risk", "quoting_ratio")
SCALES = (50.0, 100.0, 1.0)


def demo_set(**kwargs) -> ParetoSet:
    """Four policies: a greedy quoter, a balanced one, a cautious one, and a dominated one."""
    values = [[60.0, -90.0, 1.0], [40.0, -20.0, 0.8], [10.0, -2.0, 0.3], [5.0, -50.0, 0.1]]
    weights = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [np.nan] * 3, [np.nan] * 3]
    return ParetoSet(
        OBJECTIVES,
        values,
        SCALES,
        labels=["greedy", "balanced", "cautious", "dominated"],
        kinds=["ppo", "ppo", "oracle", "classical"],
        weights=weights,
        **kwargs,
    )


# -- indicators ---------------------------------------------------------------------------------------
def test_hypervolume_2d_staircase_by_hand():
    staircase = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    # slabs x in [0,1]: height 3, [1,2]: 2, [2,3]: 1
    assert hypervolume(staircase, [0.0, 0.0]) == pytest.approx(6.0)
    # a dominated point and one that does not dominate the reference add nothing
    assert hypervolume(staircase + [[1.0, 1.0], [-1.0, 10.0]], [0.0, 0.0]) == pytest.approx(6.0)
    # at ref (1, 1) only (2, 2) is strictly better in both objectives: the box [1,2] x [1,2]
    assert hypervolume(staircase, [1.0, 1.0]) == pytest.approx(1.0)


def test_hypervolume_3d_boxes_by_hand():
    boxes = [[2.0, 1.0, 1.0], [1.0, 2.0, 1.0]]
    assert hypervolume(boxes, [0, 0, 0]) == pytest.approx(2 + 2 - 1)
    # inclusion-exclusion: 3 boxes of volume 2, pairwise overlaps 1, triple overlap 1
    assert hypervolume(boxes + [[1.0, 1.0, 2.0]], [0, 0, 0]) == pytest.approx(6 - 3 + 1)


def test_hypervolume_ratio():
    reference = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]]
    assert hypervolume_ratio(reference, reference, [0, 0]) == pytest.approx(1.0)
    assert hypervolume_ratio([[2.0, 2.0]], reference, [0, 0]) == pytest.approx(4.0 / 6.0)
    with pytest.raises(ValueError, match="zero hypervolume"):
        hypervolume_ratio(reference, reference, [5.0, 5.0])


def test_igd_zero_on_reference_and_shift_on_shifted_front():
    reference = np.array([[0.0, 10.0], [10.0, 0.0], [5.0, 5.0]])
    assert igd(reference, reference) == 0.0
    shift = np.array([0.3, 0.4])
    assert igd(reference + shift, reference) == pytest.approx(0.5)
    assert igd(reference - shift, reference) == pytest.approx(0.5)
    # on normalised objectives the shift is (0.3/2, 0.4/4)
    assert igd(reference + shift, reference, scales=[2.0, 4.0]) == pytest.approx(math.hypot(0.15, 0.1))
    # IGD+ does not charge a front that dominates the reference
    assert igd_plus(reference + shift, reference) == pytest.approx(0.0)
    assert igd_plus(reference - shift, reference) == pytest.approx(0.5)


def test_expected_utility_by_hand():
    front = [[2.0, 0.0], [0.0, 2.0], [1.5, 1.5]]
    weights = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    # normalised by (1, 2): [2, 0], [0, 1], [1.5, 0.75]; best utilities 2, 1, max(1, .5, 1.125)
    assert expected_utility(front, weights, [1.0, 2.0]) == pytest.approx((2 + 1 + 1.125) / 3)
    assert expected_utility(front, [0.5, 0.5], [1.0, 2.0]) == pytest.approx(1.125)
    reference = [[4.0, 0.0], [0.0, 4.0]]  # best utilities 4, 2, 2 -> EUM 8/3
    assert eum_ratio(front, reference, weights, [1.0, 2.0]) == pytest.approx((4.125 / 3) / (8 / 3))
    assert expected_utility_loss(front, reference, weights, [1.0, 2.0]) == pytest.approx((8 - 4.125) / 3)
    with pytest.raises(ValueError, match="expected_utility_loss"):
        eum_ratio(front, [[-1.0, -1.0]], weights, [1.0, 2.0])


def test_sparsity_and_cardinality_by_hand():
    front = [[0.0, 3.0], [1.0, 1.0], [3.0, 0.0]]
    # each objective sorted is 0, 1, 3: gaps 1, 2 -> 1 + 4 per objective; (5 + 5) / (3 - 1)
    assert sparsity(front) == pytest.approx(5.0)
    assert sparsity(front, scales=[1.0, 2.0]) == pytest.approx((5.0 + 5.0 / 4) / 2)
    assert sparsity([[1.0, 2.0]]) == 0.0
    assert cardinality(front + [[0.5, 0.5], [1.0, 1.0]]) == 3


def test_nondominated_mask_with_ties_and_duplicates():
    points = [[1, 1], [1, 1], [0, 1], [2, 0], [2, 0], [1, 0.5], [0, 2]]
    assert nondominated_mask(points).tolist() == [True, False, False, True, False, False, True]
    assert nondominated_mask(points, keep_duplicates=True).tolist() == [True, True, False, True, True, False, True]
    assert nondominated_mask(np.zeros((0, 3))).shape == (0,)


def test_hv_reference_point_rule():
    first, second = [[0.0, 10.0], [4.0, 2.0]], [[2.0, -6.0]]
    # worst (0, -6), range (4, 16) over both sets
    np.testing.assert_allclose(hv_reference_point(first, second), [-0.4, -7.6])
    np.testing.assert_allclose(hv_reference_point(first, second, margin=0.5), [-2.0, -14.0])
    # zero range: the margin is taken of max(|worst|, 1)
    np.testing.assert_allclose(hv_reference_point([[1.0, 5.0], [2.0, 5.0]]), [0.9, 4.5])
    ref = hv_reference_point(first, second)
    assert np.all(np.asarray(first + second) > ref)  # every point contributes
    with pytest.raises(ValueError, match="margin"):
        hv_reference_point(first, margin=0.0)


def test_simplex_weights_is_the_das_dennis_lattice():
    for d, h in [(1, 3), (2, 4), (3, 5), (4, 3)]:
        w = simplex_weights(d, h)
        brute = sorted(c for c in itertools.product(range(h + 1), repeat=d) if sum(c) == h)
        assert sorted(map(tuple, np.rint(w * h).astype(int).tolist())) == brute
        assert len(w) == math.comb(h + d - 1, d - 1)
        np.testing.assert_allclose(w.sum(axis=1), 1.0)
    w = equally_spaced_weights(3, 20)
    assert len(w) == 21 and len(equally_spaced_weights(3, 22)) == 28  # H=5: 21 points, H=6: 28
    assert equally_spaced_weights(1, 5).tolist() == [[1.0]]
    for bad in [(0, 3), (3, 0), (2.5, 3)]:
        with pytest.raises(ValueError):
            simplex_weights(*bad)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([0.5, 0.6, 0.0], "sum to 1"),
        ([1.2, -0.2, 0.0], ">= 0"),
        ([np.nan, 0.5, 0.5], "finite"),
        ([0.5, 0.5], "shape"),
    ],
)
def test_bad_weights_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        expected_utility([[1.0, 2.0, 3.0]], bad, SCALES)
    with pytest.raises(ValueError, match=match):
        demo_set().select(bad)


def test_bad_points_and_scales_raise():
    with pytest.raises(ValueError, match="finite"):
        hypervolume([[1.0, np.nan]], [0.0, 0.0])
    with pytest.raises(ValueError, match="2-D"):
        igd([1.0, 2.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="objectives"):
        igd([[1.0, 2.0, 3.0]], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="scales"):
        igd([[1.0, 2.0]], [[1.0, 2.0]], scales=[1.0, 0.0])
    with pytest.raises(ValueError, match="labels"):
        ParetoSet(OBJECTIVES, [[1, 2, 3], [4, 5, 6]], SCALES, labels=["a", "a"])
    with pytest.raises(ValueError, match="weights"):
        ParetoSet(OBJECTIVES, [[1, 2, 3]], SCALES, weights=[[0.5, 0.0, 0.0]])


# -- ParetoSet --------------------------------------------------------------------------------------
def test_nondominated_drops_the_dominated_policy():
    front = demo_set().nondominated()
    assert front.labels == ("greedy", "balanced", "cautious")
    assert front.kinds == ("ppo", "ppo", "oracle")
    np.testing.assert_array_equal(front.weights[1], [0.5, 0.5, 0.0])


def test_select_by_weights_follows_the_weights():
    pareto = demo_set()
    # normalised: greedy (1.2, -0.9, 1), balanced (0.8, -0.2, 0.8), cautious (0.2, -0.02, 0.3)
    assert pareto.select([1.0, 0.0, 0.0]).label == "greedy"
    assert pareto.select([0.0, 1.0, 0.0]).label == "cautious"
    assert pareto.select([0.0, 0.0, 1.0]).label == "greedy"
    assert pareto.select([0.5, 0.5, 0.0]).label == "balanced"  # 0.3 vs 0.15 (greedy), 0.09
    entry = pareto.select([0.2, 0.8, 0.0])  # greedy -0.48, balanced 0.0, cautious 0.024
    assert (entry.label, entry.index, entry.kind) == ("cautious", 2, "oracle")


def test_select_by_constraints():
    pareto = demo_set()
    assert pareto.select_by_constraints("pnl", at_least={"inventory_risk": -30}).label == "balanced"
    assert pareto.select_by_constraints("pnl").label == "greedy"
    assert pareto.select_by_constraints("quoting_ratio", at_most={"pnl": 20}).label == "cautious"
    assert pareto.select_by_constraints("inventory_risk", at_least={"quoting_ratio": 0.5}).label == "balanced"


def test_infeasible_selection_lists_the_closest_points():
    pareto = demo_set()
    with pytest.raises(InfeasibleSelectionError, match="inventory_risk >= -10 and quoting_ratio >= 0.9") as info:
        pareto.select_by_constraints("pnl", at_least={"inventory_risk": -10, "quoting_ratio": 0.9})
    # violations (normalised): balanced 0.1 + 0.1, cautious 0 + 0.6, greedy 0.8 + 0
    assert [e.label for e in info.value.closest] == ["balanced", "cautious", "greedy"]
    assert "balanced (ppo)" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_constraints_with_unknown_objective_or_conservative_bound():
    pareto = demo_set(ci=np.full((4, 3), 5.0))
    with pytest.raises(ValueError, match="unknown objective 'risk'"):
        pareto.select_by_constraints("pnl", at_least={"risk": -20})
    with pytest.raises(ValueError, match="unknown objective"):
        pareto.select_by_constraints("profit")
    # mean -20 passes >= -22, but not its lower confidence bound -25
    assert pareto.select_by_constraints("pnl", at_least={"inventory_risk": -22}).label == "balanced"
    assert pareto.select_by_constraints("pnl", at_least={"inventory_risk": -22}, conservative=True).label == "cautious"
    with pytest.raises(ValueError, match="ci"):
        demo_set().select_by_constraints("pnl", at_least={"inventory_risk": -22}, conservative=True)


def test_from_samples_uses_student_t():
    samples = np.array([[[1.0, 0.0], [3.0, 0.0]], [[2.0, 2.0], [2.0, 4.0]]])
    pareto = ParetoSet.from_samples(("a", "b"), samples, [1.0, 1.0])
    np.testing.assert_allclose(pareto.values, [[2.0, 0.0], [2.0, 3.0]])
    # s = sqrt(2), m = 2: t_{0.975, 1} = 12.7062 (table) times s / sqrt(2)
    np.testing.assert_allclose(pareto.ci, [[12.7062, 0.0], [0.0, 12.7062]], atol=1e-4)
    assert pareto.metadata["n_samples"] == 2
    with pytest.raises(ValueError, match=">= 2 samples"):
        ParetoSet.from_samples(("a", "b"), samples[:, :1], [1.0, 1.0])


def test_indicators_against_itself_and_a_subset():
    pareto = demo_set()
    weights = equally_spaced_weights(3, 10)
    same = pareto.indicators(reference=pareto, weights=weights)
    assert same["hypervolume_ratio"] == pytest.approx(1.0)
    assert same["igd"] == same["igd_plus"] == 0.0
    assert same["eum_ratio"] == pytest.approx(1.0) and same["expected_utility_loss"] == pytest.approx(0.0)
    assert same["cardinality"] == 3.0
    part = pareto.subset([0]).indicators(reference=pareto, weights=weights)
    assert part["hypervolume_ratio"] < 1.0 and part["igd"] > 0.0 and part["expected_utility_loss"] > 0.0
    assert set(pareto.indicators()) == {"cardinality", "sparsity"}
    other = ParetoSet(OBJECTIVES, pareto.values, (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="scales differ"):
        pareto.indicators(reference=other)


def test_dataset_round_trip_preserves_everything(tmp_path):
    pareto = demo_set(
        ci=np.arange(12.0).reshape(4, 3) / 10, metadata={"units": {"pnl": "cash"}, "study": "demo", "seeds": [0, 1]}
    )
    ds = pareto.to_dataset()
    assert ds["value"].dims == ("policy", "objective")
    assert ds.attrs["units"] == ["cash", "", ""]
    path = tmp_path / "pareto.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as loaded:
        back = ParetoSet.from_dataset(loaded.load(), policies=["p0", "p1", "p2", "p3"])
    assert back.objectives == pareto.objectives and back.labels == pareto.labels and back.kinds == pareto.kinds
    np.testing.assert_array_equal(back.values, pareto.values)
    np.testing.assert_array_equal(back.ci, pareto.ci)
    np.testing.assert_array_equal(back.weights, pareto.weights)  # NaN rows included
    np.testing.assert_array_equal(back.scales, pareto.scales)
    assert back.metadata == pareto.metadata
    assert back["balanced"].policy == "p1"
    no_ci = ParetoSet.from_dataset(demo_set().to_dataset())
    assert no_ci.ci is None


def test_container_and_display():
    pareto = demo_set()
    assert len(pareto) == 4 and [e.label for e in pareto] == list(pareto.labels)
    assert pareto[-1].label == "dominated" and pareto["cautious"].index == 2
    with pytest.raises(KeyError):
        pareto["missing"]
    table = pareto.table()
    assert "greedy" in table and "(0.5, 0.5, 0)" in table and len(table.splitlines()) == 5
    assert repr(pareto).startswith("ParetoSet(4 policies")
    with pytest.raises(ValueError):  # read-only arrays: the set is immutable
        pareto.values[0, 0] = 1.0
    both = ParetoSet.concatenate([pareto.subset([0]), ParetoSet(OBJECTIVES, [[1, 1, 1]], SCALES, labels=["x"])])
    assert both.labels == ("greedy", "x") and both.ci is None


# -- properties -----------------------------------------------------------------------------------------
def fronts(d, min_size=1):
    return hnp.arrays(
        np.float64,
        st.tuples(st.integers(min_size, 12), st.just(d)),
        elements=st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 1)),
    )


@settings(max_examples=60, deadline=None)
@given(front=fronts(3), extra=hnp.arrays(np.float64, 3, elements=st.floats(-10, 10)))
def test_hypervolume_is_monotone_and_only_the_nondominated_points_count(front, extra):
    ref = np.full(3, -11.0)
    volume = hypervolume(front, ref)
    assert hypervolume(np.vstack([front, extra]), ref) >= volume - 1e-9
    assert hypervolume(front[nondominated_mask(front)], ref) == pytest.approx(volume)


@settings(max_examples=60, deadline=None)
@given(front=fronts(2))
def test_nondominated_mask_matches_brute_force(front):
    mask = nondominated_mask(front, keep_duplicates=True)
    dominated = [any(np.all(q >= p) and np.any(q > p) for q in front) for p in front]
    assert mask.tolist() == [not x for x in dominated]


@settings(max_examples=40, deadline=None)
@given(front=fronts(3), raw=hnp.arrays(np.float64, 3, elements=st.floats(0.01, 1)))
def test_select_maximises_utility_and_picks_a_nondominated_point(front, raw):
    weights = raw / raw.sum()
    pareto = ParetoSet(OBJECTIVES, front, SCALES)
    chosen = pareto.select(weights)
    utilities = (front / np.asarray(SCALES)) @ weights
    assert utilities[chosen.index] == pytest.approx(utilities.max())
    # with every weight > 0 the argmax is never strictly dominated
    assert not any(np.all(q >= chosen.values) and np.any(q > chosen.values) for q in front)
