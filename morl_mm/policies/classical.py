"""Classical quoters: the closed forms of the market-making literature and two simple rules.

The model of the papers is the env's base model: the mid moves as ``dS = sigma dW``; market orders
fill a quote at depth ``delta`` from the mid at rate ``A exp(-kappa delta)`` (the env's fill
probability per step is ``A exp(-kappa delta) dt``); trades are of one lot. Each policy implements
the Policy protocol (:mod:`morl_mm.policies.base`): a pytree ``params`` and a pure, jittable
``act(params, obs, state, key)`` that reads the true ``state`` (step index, inventory) and returns
an action of the env's mode via :func:`morl_mm.policies.quoting.quote_to_action`.

* :class:`AvellanedaStoikov` - Avellaneda & Stoikov (2008), reservation price and spread.
* :class:`GueantLehalleFernandezTapia` - Guéant, Lehalle & Fernandez-Tapia (2013), the closed-form
  asymptotic (far from T) quotes; :class:`GueantLehalleFernandezTapiaExact` - their exact solution
  under inventory limits (a matrix exponential).
* :class:`CarteaJaimungal` - Cartea, Jaimungal & Penalva (2015, ch. 10): running inventory penalty
  ``phi q^2`` and terminal penalty ``alpha q^2``, exact solution by a matrix exponential.
* :class:`FixedSpread` and :class:`LinearSkew` - rule-based quoters.

Market constants (sigma, kappa, A, T, dt, order size, inventory limit) are read from the env params
given at construction. Trade size: the papers trade one share; with ``order_size`` Δ the models
are solved per lot (a lot's value has volatility Δσ, a lot quoted at lot depth d = Δδ fills at
rate A exp(-(κ/Δ) d), inventory is counted in lots) and depths are converted back per unit.
With Δ = 1 (the default) this is the papers' model unchanged.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import scipy.linalg
from flax import struct

from morl_mm.env.market import MarketMakingEnv
from morl_mm.env.params import EnvParams, episode_steps
from morl_mm.policies.quoting import quote_to_action


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be finite and > 0, got {value}")
    return value


def _non_negative(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: must be finite and >= 0, got {value}")
    return value


def _lot_model(params: EnvParams) -> tuple[float, float, float]:
    """(lot volatility Δσ, lot fill decay κ/Δ, Δ) of the env params (see the module docstring)."""
    size = float(params.order_size)
    return float(params.sigma) * size, float(params.kappa) / size, size


def _inventory_bound(params: EnvParams) -> int:
    """Q: the inventory limit in whole lots; the closed forms live on q in {-Q, ..., Q}."""
    bound = int(math.floor(float(params.inventory_limit) / float(params.order_size) + 1e-9))
    if bound < 1:
        raise ValueError(f"EnvParams.inventory_limit: needs at least one lot, got {params.inventory_limit}")
    return bound


def _time_to_horizon(state, horizon, dt):
    return jnp.maximum(horizon - state.time * dt, 0.0)


class _Quoter:
    """Shared ``act``: the subclass's ``quotes(params, state)`` turned into an env action."""

    env: MarketMakingEnv
    params: object

    def quotes(self, params, state):
        """(depth_bid, depth_ask, on_bid, on_ask), depths per unit from the mid (before clipping)."""
        raise NotImplementedError

    def act(self, params, obs, state, key):
        del obs, key  # classical quoters are deterministic functions of the true state
        return quote_to_action(self.env.config, *self.quotes(params, state))


# -- Avellaneda & Stoikov (2008) ---------------------------------------------------------------------


@struct.dataclass
class AvellanedaStoikovParams:
    gamma: jnp.ndarray  # risk aversion γ of the CARA utility
    sigma: jnp.ndarray  # lot volatility
    kappa: jnp.ndarray  # lot fill decay k
    horizon: jnp.ndarray  # T
    dt: jnp.ndarray
    order_size: jnp.ndarray


def avellaneda_stoikov_depths(gamma, sigma, kappa, time_left, inventory):
    """Avellaneda & Stoikov (2008), eqs. (29)-(30), as depths from the mid s (works on arrays).

    reservation price  r = s - q γ σ² (T - t)
    total spread       δ^a + δ^b = γ σ² (T - t) + (2/γ) ln(1 + γ/k)
    quotes             bid = r - spread/2, ask = r + spread/2

    so bid depth = q γ σ² (T-t) + spread/2 and ask depth = spread/2 - q γ σ² (T-t).
    """
    skew = inventory * gamma * sigma**2 * time_left
    half_spread = 0.5 * (gamma * sigma**2 * time_left + (2.0 / gamma) * jnp.log1p(gamma / kappa))
    return half_spread + skew, half_spread - skew


class AvellanedaStoikov(_Quoter):
    """Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book": quotes a spread
    γσ²(T-t) + (2/γ) ln(1 + γ/k) around the reservation price r = s - q γ σ² (T - t).

    Parameter: ``gamma`` (risk aversion, > 0). Both sides are always quoted (the env withdraws a
    side that would breach its inventory limit); depths below 0 are clipped to 0 unless the env has
    ``EnvConfig(negative_depth=True)``, where a quote sits through the mid as in the paper.
    """

    def __init__(self, env: MarketMakingEnv, env_params: EnvParams, gamma: float = 0.1):
        sigma, kappa, size = _lot_model(env_params)
        self.env = env
        self.params = AvellanedaStoikovParams(
            gamma=jnp.float32(_positive("AvellanedaStoikov.gamma", gamma)),
            sigma=jnp.float32(sigma),
            kappa=jnp.float32(kappa),
            horizon=jnp.float32(env_params.horizon),
            dt=jnp.float32(env_params.dt),
            order_size=jnp.float32(size),
        )

    def quotes(self, params, state):
        time_left = _time_to_horizon(state, params.horizon, params.dt)
        bid, ask = avellaneda_stoikov_depths(
            params.gamma, params.sigma, params.kappa, time_left, state.inventory / params.order_size
        )
        return bid / params.order_size, ask / params.order_size, True, True


# -- Guéant, Lehalle & Fernandez-Tapia (2013) -------------------------------------------------------


@struct.dataclass
class GLFTAsymptoticParams:
    base: jnp.ndarray  # (1/γ) ln(1 + γ/k), per lot
    slope: jnp.ndarray  # sqrt(σ²γ / (2kA) (1 + γ/k)^(1 + k/γ)), per lot and per lot held
    order_size: jnp.ndarray


def glft_asymptotic_depths(gamma, sigma, kappa, arrival_rate, inventory):
    """Guéant, Lehalle & Fernandez-Tapia (2013), closed-form approximation of the quotes far from T:

    δ^b(q) ≈ (1/γ) ln(1 + γ/k) + (2q + 1)/2 · sqrt(σ²γ / (2kA) · (1 + γ/k)^(1 + k/γ))
    δ^a(q) ≈ (1/γ) ln(1 + γ/k) - (2q - 1)/2 · sqrt(σ²γ / (2kA) · (1 + γ/k)^(1 + k/γ))

    Returns (bid depth, ask depth); q is the inventory in lots.
    """
    base, slope = _glft_asymptotic_terms(gamma, sigma, kappa, arrival_rate)
    return base + (inventory + 0.5) * slope, base - (inventory - 0.5) * slope


def _glft_asymptotic_terms(gamma, sigma, kappa, arrival_rate):
    """((1/γ) ln(1 + γ/k), sqrt(σ²γ / (2kA) · (1 + γ/k)^(1 + k/γ)))."""
    base = np.log1p(gamma / kappa) / gamma
    slope = np.sqrt(sigma**2 * gamma / (2.0 * kappa * arrival_rate) * (1.0 + gamma / kappa) ** (1.0 + kappa / gamma))
    return base, slope


class GueantLehalleFernandezTapia(_Quoter):
    """Guéant, Lehalle & Fernandez-Tapia (2013), "Dealing with the inventory risk: a solution to the
    market making problem", the asymptotic closed-form quotes (see :func:`glft_asymptotic_depths`).

    Parameter: ``gamma`` (risk aversion, > 0). Time-independent; both sides always quoted (the env
    withdraws a side that would breach its inventory limit).
    """

    def __init__(self, env: MarketMakingEnv, env_params: EnvParams, gamma: float = 0.1):
        sigma, kappa, size = _lot_model(env_params)
        gamma = _positive("GueantLehalleFernandezTapia.gamma", gamma)
        base, slope = _glft_asymptotic_terms(
            gamma, sigma, kappa, _positive("EnvParams.arrival_rate", env_params.arrival_rate)
        )
        self.env = env
        self.params = GLFTAsymptoticParams(
            base=jnp.float32(base), slope=jnp.float32(slope), order_size=jnp.float32(size)
        )

    def quotes(self, params, state):
        q = state.inventory / params.order_size
        bid = params.base + (q + 0.5) * params.slope
        ask = params.base - (q - 0.5) * params.slope
        return bid / params.order_size, ask / params.order_size, True, True


# -- exact solutions on a finite inventory lattice (matrix exponentials) -----------------------------


def log_matrix_exponential_path(generator: np.ndarray, log_terminal: np.ndarray, dt: float, n_steps: int) -> np.ndarray:
    """ln w(t_n) for n = 0..N, where w solves ∂t w + G w = 0 with ln w(T) = log_terminal, i.e.
    w(t) = exp(G (T - t)) w(T).

    One matrix exponential exp(G dt) is applied backward step by step (exactly exp(G (T - t_n))
    after N - n steps), renormalising each step so that nothing overflows; components that
    underflow relative to the largest one are floored at 1e-300 of it. Float64 throughout.
    Returns an array of shape (N + 1, len(log_terminal)); its last row is ``log_terminal``.
    """
    step = scipy.linalg.expm(np.asarray(generator, np.float64) * dt)
    log_w = np.empty((n_steps + 1, len(log_terminal)))
    log_w[n_steps] = log_terminal
    log_scale = float(np.max(log_terminal))
    w = np.exp(np.asarray(log_terminal, np.float64) - log_scale)
    for n in range(n_steps - 1, -1, -1):
        w = step @ w
        top = w.max()
        w, log_scale = np.maximum(w / top, 1e-300), log_scale + np.log(top)
        log_w[n] = np.log(w) + log_scale
    return log_w


def _tridiagonal(diagonal: np.ndarray, off: float) -> np.ndarray:
    return np.diag(diagonal) + off * (np.eye(diagonal.size, k=1) + np.eye(diagonal.size, k=-1))


@struct.dataclass
class QuoteTable:
    """Depths per (step, inventory) for q = -Q..Q lots, and whether each side is quoted at q."""

    depth_bid: jnp.ndarray  # (N, 2Q + 1), per unit
    depth_ask: jnp.ndarray  # (N, 2Q + 1), per unit
    quote_bid: jnp.ndarray  # (2Q + 1,), 0 at q = Q
    quote_ask: jnp.ndarray  # (2Q + 1,), 0 at q = -Q
    order_size: jnp.ndarray


def _quote_table(depth_bid: np.ndarray, depth_ask: np.ndarray, order_size: float) -> QuoteTable:
    """Table from lot depths (N, 2Q + 1) whose bid at q = Q and ask at q = -Q are undefined."""
    lattice = depth_bid.shape[1]
    quote_bid = np.ones(lattice)
    quote_ask = np.ones(lattice)
    quote_bid[-1] = quote_ask[0] = 0.0
    return QuoteTable(
        depth_bid=jnp.asarray(np.nan_to_num(depth_bid * quote_bid, nan=0.0) / order_size, jnp.float32),
        depth_ask=jnp.asarray(np.nan_to_num(depth_ask * quote_ask, nan=0.0) / order_size, jnp.float32),
        quote_bid=jnp.asarray(quote_bid, jnp.float32),
        quote_ask=jnp.asarray(quote_ask, jnp.float32),
        order_size=jnp.float32(order_size),
    )


def _neighbour_differences(log_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ln w_q - ln w_{q+1}, ln w_q - ln w_{q-1}) with nan where the neighbour is off the lattice."""
    pad = np.full(log_w.shape[:-1] + (1,), np.nan)
    up = log_w - np.concatenate([log_w[..., 1:], pad], axis=-1)
    down = log_w - np.concatenate([pad, log_w[..., :-1]], axis=-1)
    return up, down


class _TableQuoter(_Quoter):
    """Looks the quote up in a precomputed :class:`QuoteTable` by (step index, inventory in lots).

    The table covers the steps of the env params given at construction; later steps reuse the last
    row, inventories beyond the lattice use its edge.
    """

    params: QuoteTable

    @property
    def inventory_grid(self) -> np.ndarray:
        """q = -Q..Q (lots), the columns of the tables."""
        bound = (self.params.depth_bid.shape[1] - 1) // 2
        return np.arange(-bound, bound + 1)

    def quotes(self, params, state):
        steps, lattice = params.depth_bid.shape
        t = jnp.clip(state.time, 0, steps - 1)
        lots = jnp.round(state.inventory / params.order_size).astype(jnp.int32)
        i = jnp.clip(lots + (lattice - 1) // 2, 0, lattice - 1)
        return params.depth_bid[t, i], params.depth_ask[t, i], params.quote_bid[i] > 0, params.quote_ask[i] > 0


class GueantLehalleFernandezTapiaExact(_TableQuoter):
    """Guéant, Lehalle & Fernandez-Tapia (2013), exact optimal quotes under the inventory limits
    q in {-Q, ..., Q} (Q = the env's inventory limit in lots), their Proposition 2 / Theorem 1:

    v(t) = exp(-M (T - t)) · (1, ..., 1)',  M tridiagonal, M_qq = α q², M_{q,q±1} = -η,
    α = (k/2) γ σ²,  η = A (1 + γ/k)^-(1 + k/γ),
    δ^b(t, q) = (1/k) ln(v_q(t) / v_{q+1}(t)) + (1/γ) ln(1 + γ/k)   (q ≠ Q; no bid at q = Q)
    δ^a(t, q) = (1/k) ln(v_q(t) / v_{q-1}(t)) + (1/γ) ln(1 + γ/k)   (q ≠ -Q; no ask at q = -Q)

    Precomputed at construction for every step t_n = n dt of the env params (``log_v``: ln v(t_n),
    shape (N + 1, 2Q + 1)). Value function: u = -exp(-γ (x + q s)) v_q(t)^(-γ/k).
    """

    def __init__(self, env: MarketMakingEnv, env_params: EnvParams, gamma: float = 0.1):
        sigma, kappa, size = _lot_model(env_params)
        gamma = _positive("GueantLehalleFernandezTapiaExact.gamma", gamma)
        arrival = _positive("EnvParams.arrival_rate", env_params.arrival_rate)
        q = np.arange(-_inventory_bound(env_params), _inventory_bound(env_params) + 1)
        alpha = 0.5 * kappa * gamma * sigma**2
        eta = arrival * (1.0 + gamma / kappa) ** (-(1.0 + kappa / gamma))
        steps = episode_steps(env_params)
        self.env = env
        self.gamma = gamma
        self.log_v = log_matrix_exponential_path(
            -_tridiagonal(alpha * q**2, -eta), np.zeros(q.size), float(env_params.dt), steps
        )
        up, down = _neighbour_differences(self.log_v[:steps])
        base = np.log1p(gamma / kappa) / gamma
        self.params = _quote_table(up / kappa + base, down / kappa + base, size)


class CarteaJaimungal(_TableQuoter):
    """Cartea, Jaimungal & Penalva (2015), "Algorithmic and High-Frequency Trading", section 10.2
    (also Cartea & Jaimungal 2015, "Risk metrics and fine tuning of high-frequency trading
    strategies"): a risk-neutral market maker maximising

        E[ X_T + q_T (S_T - α q_T) - φ ∫ q_u² du ]

    with fills at rate λ e^{-κ δ} (λ = A) and q in {-Q, ..., Q}. The value function is
    H(t, x, S, q) = x + q S + h(t, q) with h(t, q) = (1/κ) ln ω_q(t),

        ω(t) = exp(A (T - t)) z,  z_q = exp(-α κ q²),
        A tridiagonal: A_qq = -φ κ q², A_{q,q±1} = λ e^{-1},

    and the optimal depths (no bid at q = Q, no ask at q = -Q):

        δ^{-*}(t, q) = 1/κ + (1/κ) ln(ω_q(t) / ω_{q+1}(t))   (bid, buys one lot)
        δ^{+*}(t, q) = 1/κ + (1/κ) ln(ω_q(t) / ω_{q-1}(t))   (ask, sells one lot)

    Parameters: ``phi`` (running penalty, >= 0; φ = w σ² matches the env's ``inventory_risk``
    objective weighted by w) and ``alpha`` (terminal penalty, >= 0). Precomputed once at
    construction for every step t_n = n dt: :attr:`h_table` (N + 1, 2Q + 1) and the depth tables.
    """

    def __init__(self, env: MarketMakingEnv, env_params: EnvParams, phi: float = 0.01, alpha: float = 0.0001):
        _, kappa, size = _lot_model(env_params)
        phi = _non_negative("CarteaJaimungal.phi", phi) * size**2  # per lot held
        alpha = _non_negative("CarteaJaimungal.alpha", alpha) * size**2
        arrival = _positive("EnvParams.arrival_rate", env_params.arrival_rate)
        q = np.arange(-_inventory_bound(env_params), _inventory_bound(env_params) + 1)
        steps = episode_steps(env_params)
        self.env = env
        log_omega = log_matrix_exponential_path(
            _tridiagonal(-phi * kappa * q**2, arrival / math.e), -alpha * kappa * q**2.0, float(env_params.dt), steps
        )
        self.h_table = log_omega / kappa
        """h(t_n, q) for n = 0..N (rows) and q = -Q..Q (columns), float64, cash units."""
        up, down = _neighbour_differences(self.h_table[:steps])
        self.params = _quote_table(1.0 / kappa + up, 1.0 / kappa + down, size)

    def value_h(self, t_index, q):
        """h(t_n, q) of the value H = x + q S + h (t_n = t_index * dt, q in lots, within -Q..Q)."""
        bound = (self.h_table.shape[1] - 1) // 2
        q = np.asarray(q)
        if np.any(np.abs(q) > bound):
            raise ValueError(f"CarteaJaimungal.value_h: q must lie in [-{bound}, {bound}], got {q}")
        return self.h_table[t_index, q + bound]


# -- rule-based ---------------------------------------------------------------------------------------


@struct.dataclass
class LinearSkewParams:
    half_spread: jnp.ndarray
    skew: jnp.ndarray  # depth shift per unit of inventory


class LinearSkew(_Quoter):
    """Traditional rule-based quoter: bid depth = half_spread + skew q, ask depth = half_spread - skew q
    (q the inventory in units). A long book (q > 0) quotes a deeper bid and a closer ask, which sells
    inventory off; ``skew = 0`` is a fixed symmetric spread. Depths below 0 are clipped to 0.
    """

    def __init__(self, env: MarketMakingEnv, half_spread: float, skew: float = 0.0):
        self.env = env
        self.params = LinearSkewParams(
            half_spread=jnp.float32(_non_negative("half_spread", half_spread)),
            skew=jnp.float32(_non_negative("skew", skew)),
        )

    def quotes(self, params, state):
        shift = params.skew * state.inventory
        return params.half_spread + shift, params.half_spread - shift, True, True


class FixedSpread(LinearSkew):
    """Symmetric quotes at ``half_spread`` from the mid on both sides, whatever the inventory."""

    def __init__(self, env: MarketMakingEnv, half_spread: float):
        super().__init__(env, half_spread, skew=0.0)
