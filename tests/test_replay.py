"""The replay env: accounting, fills only from recorded trades, latency, queue model, windows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_mm.data.capture import Book, Capture, Trades
from morl_mm.data.tape import build_tape, replay_params
from morl_mm.env.params import EnvConfig, make_params
from morl_mm.env.replay import ReplayEnv, window_starts
from morl_mm.evaluation.rollouts import evaluate_replay
from morl_mm.policies.classical import FixedSpread

TICK = 0.01
DT = 0.1
FILL_MODELS = ("trade_through", "queue", "touch")


def random_capture(seed: int = 0, seconds: float = 60.0, levels: int = 3) -> Capture:
    """A random-walk book (1-tick spread around a mid on the half-tick grid) with random market orders."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 20)
    ts = np.sort(rng.integers(0, int(seconds * 1e9), n)).astype(np.int64)
    ts[0] = 0
    best_bid = 100.0 + TICK * np.cumsum(rng.integers(-1, 2, n))
    offsets = TICK * np.arange(levels)
    bid_price = best_bid[:, None] - offsets
    ask_price = best_bid[:, None] + TICK + offsets
    sizes = lambda: rng.uniform(0.2, 3.0, (n, levels))  # noqa: E731
    book = Book(ts, bid_price, sizes(), ask_price, sizes(), np.ones(n, bool))
    m = int(seconds * 8)
    t_ts = np.sort(rng.integers(0, int(seconds * 1e9), m)).astype(np.int64)
    row = np.searchsorted(ts, t_ts, side="right") - 1
    side = rng.choice(np.array([-1, 1], np.int8), m)
    depth_ticks = rng.geometric(0.5, m) - 1  # 0 = at the touch, 1 = one tick through it, ...
    price = np.where(side > 0, ask_price[row, 0] + TICK * depth_ticks, bid_price[row, 0] - TICK * depth_ticks)
    trades = Trades(t_ts, np.round(price, 2), rng.uniform(0.05, 2.0, m), side, np.arange(m))
    return Capture("SYN", "synthetic", f"seed {seed}", TICK, book, trades)


def model(latency: int = 0, horizon: float = 5.0, **overrides):
    config = EnvConfig(action_mode="continuous", max_latency=3)
    params = make_params(
        config,
        dt=DT,
        horizon=horizon,
        sigma=0.02,
        tick_size=TICK,
        mid0=0.0,
        order_size=1.0,
        inventory_limit=50.0,
        competitive_distance=0.02,
        arrival_rate=1.0,
        kappa=100.0,
        latency=latency,
        **overrides,
    )
    return config, params


def random_actions(seed, steps, windows):
    """Open-loop actions (depths of 0-3 ticks, each side on 80% of the time) per window and step."""
    rng = np.random.default_rng(seed)
    depth = rng.integers(0, 4, (windows, steps, 2)) * TICK + 0.5 * TICK
    flags = np.where(rng.uniform(size=(windows, steps, 2)) < 0.8, 1.0, -1.0)
    return jnp.asarray(np.concatenate([depth, flags], axis=-1), jnp.float32)


def run_open_loop(env, rparams, starts, actions):
    """Roll each window with the given per-step actions (policy ignores the state)."""

    def episode(start, acts):
        p = rparams.replace(start=start)
        obs, state = env.reset_env(jax.random.key(0), p)

        def one(carry, a):
            _, state = carry
            obs, state, reward, done, info = env.step_env(jax.random.key(0), state, a, p)
            return (obs, state), (reward, info)

        _, (reward, info) = jax.lax.scan(one, (obs, state), acts)
        return reward, info

    return jax.jit(jax.vmap(episode))(jnp.asarray(starts), actions[: len(starts)])


@pytest.fixture(scope="module")
def tape():
    return build_tape(random_capture(0), DT)


@pytest.mark.parametrize("fill_model", FILL_MODELS)
def test_pnl_is_the_wealth_change_from_fills_at_quoted_prices(tape, fill_model):
    config, params = model(maker_fee=0.001)
    env = ReplayEnv(config, fill_model=fill_model)
    rparams = replay_params(tape[0], params)
    starts = window_starts(tape[0], 50)
    reward, info = run_open_loop(env, rparams, starts, random_actions(1, 50, len(starts)))
    bought, sold = np.asarray(info.fill_bid, np.float64), np.asarray(info.fill_ask, np.float64)
    assert bought.sum() > 0 and sold.sum() > 0
    bid = np.nan_to_num(np.asarray(info.bid_price, np.float64))
    ask = np.nan_to_num(np.asarray(info.ask_price, np.float64))
    cash = np.cumsum(-bought * bid + sold * ask - 0.001 * (bought + sold), axis=1)
    inventory = np.cumsum(bought - sold, axis=1)
    wealth = cash + inventory * np.asarray(info.mid, np.float64)
    np.testing.assert_allclose(np.asarray(info.wealth), wealth, atol=2e-4)
    # the episode's pnl objective is the wealth change (initial wealth 0: mid 0, no inventory)
    np.testing.assert_allclose(np.asarray(reward)[..., 0].sum(axis=1), wealth[:, -1], atol=2e-4)


@pytest.mark.parametrize("fill_model", FILL_MODELS)
def test_no_fill_without_a_trade_that_reaches_the_quote(tape, fill_model):
    tp, info_tape = tape
    config, params = model()
    env = ReplayEnv(config, fill_model=fill_model)
    starts = window_starts(tp, 50)
    reward, info = run_open_loop(env, replay_params(tp, params), starts, random_actions(2, 50, len(starts)))
    trade_price = np.asarray(tp.trade_price)
    mid = np.asarray(tp.mid)
    fills = 0
    for w, start in enumerate(starts):
        origin = mid[start]
        for t in range(50):
            sells = trade_price[start + t, 0] - origin  # reach the bid from above
            buys = trade_price[start + t, 1] - origin
            if info.fill_bid[w, t] > 0:
                fills += 1
                assert np.nanmin(sells) <= float(info.bid_price[w, t]) + 1e-4
            if info.fill_ask[w, t] > 0:
                fills += 1
                assert np.nanmax(buys) >= float(info.ask_price[w, t]) - 1e-4
            if fill_model == "trade_through":  # strictly through the price, or no fill
                if info.fill_bid[w, t] > 0:
                    assert np.nanmin(sells) < float(info.bid_price[w, t]) - TICK / 2
    assert fills > 20


def test_fill_models_are_ordered_trade_through_queue_touch(tape):
    config, params = model()
    starts = window_starts(tape[0], 50)
    actions = random_actions(3, 50, len(starts))
    totals = {}
    for fill_model in FILL_MODELS:
        _, info = run_open_loop(
            ReplayEnv(config, fill_model=fill_model), replay_params(tape[0], params), starts, actions
        )
        totals[fill_model] = np.asarray(info.fill_bid + info.fill_ask)
    assert np.all(totals["trade_through"] <= totals["queue"] + 1e-6)
    assert np.all(totals["queue"] <= totals["touch"] + 1e-6)
    assert totals["trade_through"].sum() < totals["queue"].sum() < totals["touch"].sum()


@pytest.mark.parametrize("latency", [1, 3])
def test_latency_delays_fills_by_exactly_its_steps(tape, latency):
    """With latency L, the fills are those of the same actions submitted L steps later without latency."""
    config, params0 = model(latency=0)
    _, params_l = model(latency=latency)
    env = ReplayEnv(config, fill_model="touch")
    starts = window_starts(tape[0], 50)
    actions = random_actions(4, 50, len(starts))
    off = jnp.tile(jnp.array([0.0, 0.0, -1.0, -1.0]), (actions.shape[0], latency, 1))
    shifted = jnp.concatenate([off, actions[:, :-latency]], axis=1)
    _, delayed = run_open_loop(env, replay_params(tape[0], params_l), starts, actions)
    _, reference = run_open_loop(env, replay_params(tape[0], params0), starts, shifted)
    assert float(reference.fill_bid.sum() + reference.fill_ask.sum()) > 10
    np.testing.assert_array_equal(np.asarray(delayed.fill_bid), np.asarray(reference.fill_bid))
    np.testing.assert_array_equal(np.asarray(delayed.fill_ask), np.asarray(reference.fill_ask))
    # and nothing fills before the first quote takes effect
    assert float(delayed.fill_bid[:, :latency].sum() + delayed.fill_ask[:, :latency].sum()) == 0


def flat_capture():
    """A constant book (bids 99.99/99.98/99.97 of size 1, asks 100.01/...) and a 0.5-lot trade every
    0.2 s, alternately a buy at 100.02 and a sell at 99.98."""
    n = 200
    ts = np.arange(n, dtype=np.int64) * 100_000_000
    bid = np.tile([99.99, 99.98, 99.97], (n, 1))
    ask = np.tile([100.01, 100.02, 100.03], (n, 1))
    book = Book(ts, bid, np.ones((n, 3)), ask, np.ones((n, 3)), np.ones(n, bool))
    t_ts = ts[::2] + 50_000_000
    side = np.where(np.arange(t_ts.size) % 2 == 0, 1, -1).astype(np.int8)
    trades = Trades(t_ts, np.where(side > 0, 100.02, 99.98), np.full(t_ts.size, 0.5), side, np.arange(t_ts.size))
    return Capture("FLAT", "synthetic", "flat", TICK, book, trades)


@pytest.mark.parametrize("fill_model, expected", [("touch", 5.0), ("queue", 1.5), ("trade_through", 0.0)])
def test_quote_at_the_second_level_fills_per_the_fill_model(fill_model, expected):
    """In a 20-step window each side sees five 0.5-lot trades at the quote's price: touch fills all
    five (1 lot each), the queue model first lets the displayed lot ahead trade (two prints) and then
    fills 0.5 a print, trade-through never fills (no print goes through the price)."""
    tp, _ = build_tape(flat_capture(), DT)
    config, params = model(horizon=2.0)
    env = ReplayEnv(config, fill_model=fill_model)
    policy = FixedSpread(env, half_spread=0.015)  # 99.985 -> 99.98 and 100.015 -> 100.02 on the grid
    starts = window_starts(tp, 20)
    traj = evaluate_replay(env, replay_params(tp, params), policy, jax.random.key(0), starts)
    np.testing.assert_allclose(np.asarray(traj.info.fill_bid).sum(axis=1), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(traj.info.fill_ask).sum(axis=1), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(traj.info.bid_price[:, 0]), -0.02, atol=1e-5)  # relative to mid 100


def test_windows_skip_invalid_book_and_tape_is_translation_invariant():
    cap = random_capture(5, seconds=20)
    valid = cap.book.valid.copy()
    bad = np.searchsorted(cap.book.ts_ns, 7_500_000_000)
    valid[bad] = False  # e.g. a sequence gap at 7.5 s
    book = Book(cap.book.ts_ns, cap.book.bid_price, cap.book.bid_size, cap.book.ask_price, cap.book.ask_size, valid)
    tp, info = build_tape(Capture(cap.instrument, cap.venue, cap.source, TICK, book, cap.trades), DT)
    starts = window_starts(tp, 50)  # 5 s windows: the one holding 7.5 s is dropped
    assert tp.n_steps == 199  # the last print is before 20 s: three whole windows
    assert starts.tolist() == [0, 100]
    assert info.valid_fraction < 1.0
    # shifting every price by 1234.56 changes nothing that a policy sees or earns
    shift = 1234.56
    moved_book = Book(book.ts_ns, book.bid_price + shift, book.bid_size, book.ask_price + shift, book.ask_size, valid)
    moved = Capture(
        cap.instrument,
        cap.venue,
        cap.source,
        TICK,
        moved_book,
        Trades(cap.trades.ts_ns, cap.trades.price + shift, cap.trades.size, cap.trades.side, cap.trades.aggressor_id),
    )
    tp2, _ = build_tape(moved, DT)
    config, params = model()
    env = ReplayEnv(config, fill_model="queue")
    policy = FixedSpread(env, half_spread=0.015)
    a = evaluate_replay(env, replay_params(tp, params), policy, jax.random.key(0), starts)
    b = evaluate_replay(env, replay_params(tp2, params), policy, jax.random.key(0), starts)
    np.testing.assert_allclose(np.asarray(a.reward).sum(1), np.asarray(b.reward).sum(1), atol=1e-4)


def test_replay_is_jittable_vmappable_and_validates_windows(tape):
    config, params = model()
    env = ReplayEnv(config)
    rparams = replay_params(tape[0], params)
    with pytest.raises(ValueError, match="does not fit"):
        evaluate_replay(env, rparams, FixedSpread(env, half_spread=0.015), jax.random.key(0), [tape[0].n_steps - 10])
    with pytest.raises(ValueError, match="fill_model"):
        ReplayEnv(config, fill_model="magic")
    obs, state = env.reset(jax.random.key(0), rparams)
    assert obs.shape == env.observation_space().shape
    step = jax.jit(env.step)
    obs, state, reward, done, info = step(jax.random.key(1), state, jnp.array([0.005, 0.005, 1.0, 1.0]), rparams)
    assert reward.shape == (3,) and np.all(np.isfinite(np.asarray(obs)))
