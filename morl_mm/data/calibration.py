"""Calibrate the simulator's :class:`~morl_mm.env.params.EnvParams` to a recorded capture.

``calibrate(capture)`` returns a :class:`Calibration`: EnvParams overrides in the instrument's price
units with time in **seconds**, a confidence interval for every fitted field, the step ``dt`` and
the episode length, and diagnostics saying what was fitted and what was not, and why.

Prices are relative: ``mid0 = 0``. The model (arithmetic Brownian mid, fills by depth from the mid,
inventory penalty in price units) is translation invariant, so nothing but the float32 accounting
depends on the level of the mid — and at BTC prices (~6e4) float32 would drown the pnl.

Estimators (each documented in its function):

* ``sigma``: realised variance of the book mid sampled previous-tick on a ``vol_grid`` (1 s by
  default: long enough that the vol signature, reported, has flattened on the samples) —
  ``sigma^2 = sum r^2 / (n g)``; CI from a block bootstrap of the squared returns (blocks of
  ``n^(1/3)`` returns keep volatility clustering inside blocks), percentile interval;
* ``kappa`` and ``arrival_rate`` A of the fill intensity ``lambda(delta) = A exp(-kappa delta)``: each
  market order (aggressor group) reaches depth ``d`` = its furthest print from the mid of the last valid
  book before its first print (buy: price - mid; sell: mid - price); a quote at depth ``delta`` fills iff
  ``d >= delta``; ``lambda(delta)`` is the rate per side (the two sides pooled, per-side values in the
  diagnostics) of market orders with ``d >= delta``. The tick grid is handled exactly: an order reached
  its furthest price and not the next one, so its latent depth is in ``[d, d + tick)``, and the number
  ``k`` of price levels it reached beyond the first level at or above the threshold ``delta0`` (default
  half a tick) is geometric with ``q = exp(-kappa tick)`` — a geometric-tail MLE ``q = S / (n + S)``,
  ``S = sum k``, valid whatever the spread (depths lie on half ticks or whole ticks). This uses every
  order, without the binning and weighting choices of a regression of ``log lambda`` on ``delta``. CI by
  profile likelihood. ``A = rate(>= delta0) exp(kappa delta0)`` (exactly: the count over the valid book
  time weighted by ``exp(-kappa t)``, ``t`` the threshold on each book's lattice); CI by the delta method
  with the counts' over-dispersion (Fano factor of 60 s counts, >= 1) and kappa's uncertainty.
  ``depth_from="touch"`` fits instead the latent model in which an order is seen only if it reaches the
  best quote (A then extrapolates below the spread: large on wide-spread books);
* ``adverse_impact``, the order-flow signal and volatility regimes where the data support them
  (:func:`_fit_impact_regression` (the event-study mean move of :func:`_fit_impact` is reported beside
  it), :func:`_fit_signal`, :func:`_fit_regimes`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from typing import Any

import numpy as np
from scipy import optimize, stats

from morl_mm.data import features as F
from morl_mm.data.capture import Capture
from morl_mm.env.params import EnvConfig, make_params

NS = 1_000_000_000
ROUND_DTS = tuple(sorted({m * 10.0**e for m in (1, 2, 5) for e in range(-6, 3)}, reverse=True))
VOL_SIGNATURE_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclasses.dataclass
class Calibration:
    """Calibrated EnvParams overrides with their CIs, the chosen step and what was (not) fitted."""

    params: dict[str, Any]  # EnvParams overrides accepted by morl_mm.env.params.make_params
    ci: dict[str, list[float]]  # field -> [low, high] at ``level``
    dt: float
    n_steps: int
    n_regimes: int = 1
    level: float = 0.95
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)
    curves: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)  # for figure()

    def config(self, **fields):
        """An :class:`EnvConfig` matching the calibration (``n_regimes``), other fields as given."""
        return EnvConfig(n_regimes=self.n_regimes, **fields)

    def make_params(self, config=None, **overrides):
        """Validated :class:`EnvParams` (``make_params(config, **self.params, **overrides)``)."""
        return make_params(config or self.config(), **{**self.params, **overrides})

    def to_json(self) -> dict:
        """One JSON-able object: every param, ``dt``, ``n_steps``, ``n_regimes``, ``ci``, ``diagnostics``."""
        out = {k: _jsonable(v) for k, v in self.params.items()}
        out.update(
            dt=self.dt,
            n_steps=self.n_steps,
            n_regimes=self.n_regimes,
            level=self.level,
            ci={k: [float(a), float(b)] for k, (a, b) in self.ci.items()},
            diagnostics=_jsonable(self.diagnostics),
        )
        return out

    def to_toml(self) -> str:
        """A study-config fragment: ``[env]`` (``n_regimes`` when regimes are fitted) and ``[env.params]``."""
        d = self.diagnostics
        lines = [
            f"# morl-mm calibrate: {d.get('instrument', '')} ({d.get('venue', '')}), "
            f"{d.get('span_s', float('nan')):.1f} s from {d.get('source', '')}",
            f"# time in seconds, prices in the instrument's units relative to the mid (mid0 = 0); "
            f"CIs at {self.level:.0%}",
            "# not fitted: " + "; ".join(f"{k}: {v}" for k, v in d.get("not_fitted", {}).items())
            if d.get("not_fitted")
            else "# every optional part was fitted",
        ]
        if self.n_regimes > 1:
            lines += ["", "[env]", f"n_regimes = {self.n_regimes}"]
        lines += ["", "[env.params]"]
        for k, v in self.params.items():
            unit = UNITS.get(k, "")
            ci = self.ci.get(k)
            note = "; ".join(x for x in (unit, f"CI [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "") if x)
            lines.append(f"{k} = {_toml_value(v)}" + (f"  # {note}" if note else ""))
        return "\n".join(lines) + "\n"

    def figure(self, path, format: str | None = None):
        """Save the fit's figure: lambda(delta) empirical vs fit (log axis), vol signature, return histogram."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        c = self.curves
        fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
        dg, lam = np.asarray(c["depth_grid"]), np.asarray(c["lambda_empirical"])
        ok = lam > 0
        ax[0].semilogy(dg[ok], lam[ok], "o", label="data: rate of market orders reaching >= delta")
        ax[0].semilogy(
            dg,
            np.asarray(c["lambda_fit"]),
            "-",
            label=f"fit A e^(-kappa delta): A={self.params['arrival_rate']:.3g}/s, kappa={self.params['kappa']:.3g}",
        )
        ax[0].set(xlabel="depth delta from mid (price units)", ylabel="per second per side", title="fill intensity")
        ax[0].legend(fontsize=8)
        hs = np.asarray(c["signature_h"])
        ax[1].semilogx(hs, np.asarray(c["signature_sigma"]), "o-", label="realised vol")
        ax[1].axvline(c["vol_grid"], color="k", ls=":", label=f"grid used ({c['vol_grid']} s)")
        ax[1].axhline(self.diagnostics["sigma_rv"], color="C1", ls="--", label="sigma (realised)")
        ax[1].set(xlabel="sampling interval h (s)", ylabel="price units / sqrt(s)", title="volatility signature")
        ax[1].legend(fontsize=8)
        r = np.asarray(c["returns"])
        g = c["vol_grid"]
        if r.size:
            lim = np.quantile(np.abs(r), 0.995) or 1.0
            ax[2].hist(r, bins=np.linspace(-lim, lim, 61), density=True, alpha=0.6, label="returns on the grid")
            x = np.linspace(-lim, lim, 301)
            s = self.diagnostics["sigma_rv"] * math.sqrt(g)
            ax[2].plot(x, stats.norm.pdf(x, scale=s), label=f"N(0, (sigma sqrt({g}))^2)")
            ax[2].set_yscale("log")
        ax[2].set(xlabel=f"mid change over {g} s (price units)", ylabel="density", title="returns")
        ax[2].legend(fontsize=8)
        fig.suptitle(f"calibration of {self.diagnostics.get('instrument', '')} ({self.diagnostics.get('venue', '')})")
        fig.tight_layout()
        fig.savefig(path, dpi=110, format=format)
        plt.close(fig)
        return path


UNITS = {
    "horizon": "s",
    "dt": "s",
    "mid0": "price (relative: the model is translation invariant)",
    "sigma": "price / sqrt(s)",
    "arrival_rate": "market orders / s / side (reaching depth >= 0)",
    "kappa": "1 / price",
    "tick_size": "price",
    "adverse_impact": "price per market order",
    "signal_reversion": "1 / s",
    "signal_vol": "price / s^1.5",
    "flow_sensitivity": "1 / (price / s)",
    "order_size": "instrument units per lot",
    "inventory_limit": "instrument units",
    "competitive_distance": "price",
    "regime_vol": "sigma multipliers",
    "regime_transition": "per step of dt",
}


def _fmt(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.6g}"


def _toml_value(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    return v


# ------------------------------------------------------------------------------------------ pieces
def _block_bootstrap(x: np.ndarray, stat, n_boot: int, rng, block: int | None = None) -> np.ndarray:
    """Bootstrap replicates of ``stat(sums)`` from non-overlapping blocks of rows of ``x`` (n, p).

    ``stat`` gets the column sums and the row count of a resample. Blocks of ``n^(1/3)`` rows.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    n = x.shape[0]
    b = block or max(1, int(round(n ** (1 / 3))))
    nb = n // b
    sums = x[: nb * b].reshape(nb, b, -1).sum(axis=1)
    pick = rng.integers(0, nb, size=(n_boot, nb))
    boot = sums[pick].sum(axis=1)  # (n_boot, p)
    return np.array([stat(s, nb * b) for s in boot])


def _fit_sigma(mid_grid: np.ndarray, g: float, level: float, n_boot: int, rng) -> dict:
    """Realised volatility ``sqrt(sum r^2 / (n g))`` of the gridded mid and its block-bootstrap CI.

    Also the chi-square interval ``n s^2 / chi2_{n, 1-a/2} .. n s^2 / chi2_{n, a/2}`` (exact for iid
    normal returns) in the diagnostics, for comparison.
    """
    r = np.diff(mid_grid)
    r = r[np.isfinite(r)]
    n = r.size
    if n < 20:
        raise ValueError(f"calibrate: only {n} mid changes on the {g} s grid; need >= 20 (a longer capture)")
    s2 = float(np.sum(r * r) / (n * g))
    boot = _block_bootstrap(r * r, lambda s, m: math.sqrt(s[0] / (m * g)), n_boot, rng)
    a = 1 - level
    lo, hi = np.quantile(boot, [a / 2, 1 - a / 2])
    chi = [math.sqrt(n * s2 / stats.chi2.ppf(1 - a / 2, n)), math.sqrt(n * s2 / stats.chi2.ppf(a / 2, n))]
    kurt = float(np.mean(r**4) / np.mean(r * r) ** 2) if n else float("nan")
    return {
        "sigma": math.sqrt(s2),
        "ci": [float(lo), float(hi)],
        "ci_chi2": chi,
        "n_returns": n,
        "kurtosis": kurt,
        "returns": r,
    }


def _geometric_ci(n: int, S: int, level: float) -> tuple[float, float, float]:
    """MLE and profile-likelihood CI of q for n geometric counts (P(k) = (1-q) q^k) summing to S."""
    ll = lambda q: S * math.log(q) + n * math.log1p(-q)  # noqa: E731
    q = S / (n + S)
    crit = stats.chi2.ppf(level, 1) / 2
    top = ll(q)
    f = lambda x: top - ll(x) - crit  # noqa: E731
    eps = 1e-12
    lo = optimize.brentq(f, eps, q) if f(eps) > 0 else eps
    hi = optimize.brentq(f, q, 1 - eps) if f(1 - eps) > 0 else 1 - eps
    return q, lo, hi


def _book_arrays(capture: Capture):
    b = capture.book
    bid1, ask1 = b.bid_price[:, 0], b.ask_price[:, 0]
    mid = 0.5 * (bid1 + ask1)
    ok = b.valid & np.isfinite(mid) & (ask1 > bid1)
    return mid, 0.5 * (ask1 - bid1), ok


def _fit_intensity(
    capture: Capture, tick: float, delta0: float | None, level: float, t_end_ns: int, depth_from: str = "mid"
) -> dict:
    """kappa (geometric MLE of the price levels reached beyond the truncation point) and A (counts / exposure).

    Each market order's depth ``d`` lies on its book's price lattice (step one tick); the order reached
    its furthest price and not the next one, so its latent depth ``D`` is in ``[d, d + tick)``. With
    truncation point ``t`` (a lattice point), ``k = (d - t) / tick`` given ``D >= t`` is geometric with
    ``q = exp(-kappa tick)``. ``depth_from="mid"`` (default): ``t`` = the first lattice point ``>= delta0``
    (default half a tick), i.e. ``lambda(delta)`` = the rate of market orders reaching ``delta`` from the
    mid, whatever the spread, as an agent quoting at ``delta`` sees it (orders inside the spread count);
    ``"touch"``: ``t`` = the best quote's depth (or the first lattice point beyond ``delta0``): the latent
    model in which an order is seen only if it reaches the best quote (A extrapolates below the spread).
    """
    mid, half, ok = _book_arrays(capture)
    bts = capture.book.ts_ns
    mo = F.market_orders(capture.trades)
    ref = np.searchsorted(bts, mo["ts_ns"], side="left") - 1  # last book strictly before the first print
    seen = ref >= 0
    refc = np.maximum(ref, 0)
    seen &= ok[refc]
    side = mo["side"].astype(np.float64)
    depth = side * (mo["far_price"] - mid[refc])
    best_depth = half[refc]
    if depth_from not in ("mid", "touch"):
        raise ValueError(f"calibrate: depth_from must be 'mid' or 'touch', got {depth_from!r}")
    d0 = 0.5 * tick if delta0 is None else float(delta0)
    eps = 1e-6 * tick

    def trunc(x):  # the truncation point on the lattice of a depth (or best-quote depth) x
        if depth_from == "mid":
            return x - tick * np.floor((x - d0) / tick + 1e-6)
        lo = x if delta0 is None else x + tick * np.maximum(0.0, np.ceil((d0 - x) / tick - 1e-6))
        return lo

    t = trunc(depth) if depth_from == "mid" else trunc(best_depth)
    k = np.round((depth - t) / tick)
    inside = seen & (depth < best_depth - 0.01 * tick)  # executed inside the spread (hidden liquidity)
    use = seen & (depth >= d0 - eps) & (k >= 0)
    if depth_from == "touch":
        use &= ~inside
    n = int(use.sum())
    if n < 30:
        raise ValueError(f"calibrate: only {n} market orders with a valid book before them; need >= 30")
    S = int(k[use].sum())
    note = None
    if S == 0:
        note = "no market order went beyond its first counted level: kappa is a lower bound (S = 1/2 pseudo-count)"
        S_eff = 0.5
    else:
        S_eff = S
    q = S_eff / (n + S_eff)
    if S == 0:
        qlo, qhi = 1e-12, q
    else:
        q, qlo, qhi = _geometric_ci(n, S, level)
    kappa = -math.log(q) / tick
    kappa_ci = [-math.log(qhi) / tick, -math.log(qlo) / tick]
    se_kappa = (1 - q) / (tick * math.sqrt(n * q))
    # exposure: the valid book time, each row weighted by exp(-kappa t(row))
    dur = np.diff(np.concatenate([bts, [max(t_end_ns, int(bts[-1]))]])) / NS
    dur = np.where(ok, dur, 0.0)
    tt = np.where(ok, trunc(np.where(ok, half, d0)), 0.0)
    w = dur * np.exp(-kappa * tt)
    expo = float(w.sum())
    mean_t = float((w * tt).sum() / expo)
    n_buy, n_sell = int((use & (side > 0)).sum()), int((use & (side < 0)).sum())
    # over-dispersion of the counts: Fano factor of 60 s counts (>= 1)
    ts_use = mo["ts_ns"][use]
    span = (ts_use[-1] - ts_use[0]) / NS
    nb = int(span // 60)
    fano = 1.0
    if nb >= 5:
        counts = np.bincount(((ts_use - ts_use[0]) // (60 * NS)).astype(np.int64), minlength=nb)[:nb]
        fano = max(1.0, float(counts.var(ddof=1) / counts.mean())) if counts.mean() > 0 else 1.0
    z = stats.norm.ppf(0.5 + level / 2)

    def rate(count):
        A = count / expo
        v = fano / max(count, 1) + (mean_t * se_kappa) ** 2
        return A, [A * math.exp(-z * math.sqrt(v)), A * math.exp(z * math.sqrt(v))]

    A, A_ci = rate((n_buy + n_sell) / 2.0)
    A_buy, A_buy_ci = rate(n_buy)
    A_sell, A_sell_ci = rate(n_sell)
    # per-side kappa for the diagnostics
    kappa_side = {}
    for name, sgn in (("buy", 1), ("sell", -1)):
        m = use & (side == sgn)
        Ss = int(k[m].sum())
        kappa_side[name] = -math.log(Ss / (m.sum() + Ss)) / tick if Ss > 0 else float("inf")
    # empirical lambda(delta) vs fit on the half-tick grid
    dmax = float(np.quantile(depth[use], 0.999)) if n else tick
    grid = np.arange(0.5 * tick, dmax + tick, 0.5 * tick)
    expo_time = float(dur.sum())
    lam_emp = np.array([np.sum(depth[use] >= g - 1e-9 * tick) for g in grid]) / (2 * expo_time)
    # model: rate(reach >= delta) = A * time-average of exp(-kappa max(delta, t(row)))
    lam_fit = np.array([A * float((dur * np.exp(-kappa * np.maximum(g, tt))).sum()) / expo_time for g in grid])
    return {
        "kappa": kappa,
        "kappa_ci": kappa_ci,
        "kappa_se": se_kappa,
        "A": A,
        "A_ci": A_ci,
        "A_buy": A_buy,
        "A_buy_ci": A_buy_ci,
        "A_sell": A_sell,
        "A_sell_ci": A_sell_ci,
        "n_orders": n,
        "n_buy": n_buy,
        "n_sell": n_sell,
        "n_beyond_best_levels": S,
        "n_inside_spread": int(inside.sum()),
        "n_without_valid_book": int((~seen).sum()),
        "n_below_delta0": int((seen & (depth < d0 - eps)).sum()),
        "delta0": d0,
        "depth_from": depth_from,
        "n_groups": int(len(mo["ts_ns"])),
        "fano_60s": fano,
        "exposure_s": expo,
        "valid_book_s": expo_time,
        "mean_truncation_depth": mean_t,
        "kappa_per_side": kappa_side,
        "note": note,
        "depth_grid": grid,
        "lambda_empirical": lam_emp,
        "lambda_fit": lam_fit,
        "use": use,
        "depth": depth,
        "mid_ref": mid[refc],
        "side": side,
        "ts": mo["ts_ns"],
    }


def _fit_impact(capture: Capture, fit: dict, tau: float, level: float) -> dict:
    """Mean signed mid move ``side * (m(t + tau) - m(t-))`` over the market orders (price units).

    ``m(t-)`` is the mid of the last valid book before the order, ``m(t + tau)`` the mid ``tau`` s after
    it (previous-tick). Standard error by batch means (up to 50 batches of consecutive orders), which
    allows for the serial correlation of overlapping windows. Significant when the CI excludes 0.
    """
    mid, _, ok = _book_arrays(capture)
    use = fit["use"]
    after = F.sample_on_grid(capture.book.ts_ns, mid, fit["ts"][use] + int(round(tau * NS)), valid=ok)
    x = fit["side"][use] * (after - fit["mid_ref"][use])
    x = x[np.isfinite(x)]
    n = x.size
    nb = min(50, n // 10)
    if nb < 5:
        return {"fitted": False, "reason": f"only {n} market orders with a mid {tau} s later"}
    bm = x[: nb * (n // nb)].reshape(nb, -1).mean(axis=1)
    mean = float(x.mean())
    se = float(bm.std(ddof=1) / math.sqrt(nb))
    z = stats.t.ppf(0.5 + level / 2, nb - 1)
    ci = [mean - z * se, mean + z * se]
    return {"fitted": bool(ci[0] > 0 or ci[1] < 0), "mean": mean, "se": se, "ci": ci, "n": n, "tau_s": tau}


def _fit_impact_regression(fit: dict, mid_fn, g: float, level: float, n_boot: int, rng) -> dict:
    """Permanent impact per market order: the OLS slope of the mid change over ``g`` s bins on the bin's
    signed count of market orders ``y = n_buy - n_sell`` (price units per order, a Kyle lambda by counts).

    It is the simulator's ``adverse_impact`` (the mid moves by it against the resting side after each
    market order, for good): ``r_bin = lambda y_bin + diffusion``. Unlike the mean move after an order, it
    does not credit one order with the moves of the same-side orders that follow it (trade signs cluster),
    so ``2 A lambda^2`` stays below the realised variance. CI by a block bootstrap of the bins;
    significant when the CI excludes 0.
    """
    use = fit["use"]
    ts, side = fit["ts"][use], fit["side"][use]
    t0 = int(ts[0])
    step = int(round(g * NS))
    nbins = int((int(ts[-1]) - t0) // step)
    if nbins < 50:
        return {"fitted": False, "reason": f"only {nbins} bins of {g} s", "method": "regression"}
    idx = (ts - t0) // step
    keep = idx < nbins
    y = np.bincount(idx[keep], weights=side[keep], minlength=nbins).astype(np.float64)
    r = np.diff(mid_fn(t0 + np.arange(nbins + 1, dtype=np.int64) * step))
    ok = np.isfinite(r)
    y, r = y[ok], r[ok]
    if y.var() == 0:
        return {"fitted": False, "reason": "no variation of the signed order flow", "method": "regression"}

    def slope(sm, cnt):  # sums of y, r, y*r, y*y
        vy = sm[3] / cnt - (sm[0] / cnt) ** 2
        return (sm[2] / cnt - sm[0] * sm[1] / cnt**2) / vy if vy > 0 else np.nan

    cols = np.stack([y, r, y * r, y * y], axis=1)
    lam = float(slope(cols.sum(axis=0), y.size))
    boot = _block_bootstrap(cols, slope, n_boot, rng)
    a = 1 - level
    ci = [float(x) for x in np.nanquantile(boot, [a / 2, 1 - a / 2])]
    r2 = float(np.corrcoef(y, r)[0, 1] ** 2)
    return {
        "fitted": bool(ci[0] > 0 or ci[1] < 0),
        "mean": lam,
        "ci": ci,
        "r2": r2,
        "n_bins": int(y.size),
        "bin_s": g,
        "method": "regression of bin mid changes on signed market-order counts",
    }


def _fit_signal(capture: Capture, fit: dict, mid_fn, g: float, A: float, level: float, n_boot: int, rng) -> dict:
    """The order-flow signal as an OU process, from the market-order imbalance ``y = n_buy - n_sell`` per ``g`` s.

    ``phi`` = lag-1 autocorrelation of ``y`` (AR(1) slope, s.e. ``sqrt((1 - phi^2) / n)``) gives
    ``signal_reversion = -ln(phi) / g``. The simulator's signal ``alpha`` adds to the drift and tilts
    arrivals (buy rate ``A e^{f alpha}``), so ``y_t ~ 2 A g f alpha_t`` and the next mid change
    ``r_{t+1} ~ g alpha``: ``Cov(y_t, y_{t+1}) = (2Agf)^2 V phi`` and ``Cov(y_t, r_{t+1}) = 2Agf g V phi``
    give ``flow_sensitivity f = Cov_yy / (2 A Cov_yr)`` and ``Var alpha = Cov_yr^2 / (Cov_yy g^2 phi)``,
    ``signal_vol = sqrt(2 theta Var alpha)``: fitted only when both ``phi`` and the predictive slope of
    ``r_{t+1}`` on ``y_t`` are significant; CIs by a block bootstrap of the bins.
    """
    use = fit["use"]
    ts, side = fit["ts"][use], fit["side"][use]
    t0, t1 = int(ts[0]), int(ts[-1])
    nbins = int((t1 - t0) // int(g * NS))
    if nbins < 50:
        return {"fitted": False, "reason": f"only {nbins} bins of {g} s"}
    idx = ((ts - t0) // int(g * NS)).astype(np.int64)
    keep = idx < nbins
    y = (np.bincount(idx[keep], weights=side[keep], minlength=nbins)).astype(np.float64)
    m = mid_fn(t0 + np.arange(nbins + 1, dtype=np.int64) * int(g * NS))
    r = np.diff(m)
    y0, y1, r1 = y[:-1], y[1:], r[1:]
    ok = np.isfinite(r1)
    y0, y1, r1 = y0[ok], y1[ok], r1[ok]
    n = y0.size
    yc0, yc1 = y0 - y0.mean(), y1 - y1.mean()
    phi = float((yc0 * yc1).sum() / (yc0 * yc0).sum())
    se_phi = math.sqrt(max(1 - phi * phi, 1e-12) / n)
    z = stats.norm.ppf(0.5 + level / 2)
    out: dict[str, Any] = {"phi": phi, "phi_se": se_phi, "bin_s": g, "n_bins": n}
    if not phi - z * se_phi > 0:
        out.update(
            fitted=False, reason=f"flow imbalance not autocorrelated at lag {g} s (phi = {phi:.3f} ± {z * se_phi:.3f})"
        )
        return out
    theta = -math.log(min(phi, 1 - 1e-9)) / g
    theta_ci = [-math.log(min(phi + z * se_phi, 1 - 1e-9)) / g, -math.log(max(phi - z * se_phi, 1e-9)) / g]
    out.update(signal_reversion=theta, signal_reversion_ci=theta_ci)
    rc = r1 - r1.mean()
    beta = float((yc0 * rc).sum() / (yc0 * yc0).sum())
    resid = rc - beta * yc0
    se_beta = float(math.sqrt((resid @ resid) / (n - 2) / (yc0 @ yc0)))
    out.update(predictive_slope=beta, predictive_slope_se=se_beta)
    if not abs(beta) > z * se_beta:
        out.update(
            fitted=False,
            reason=f"the flow imbalance does not predict the next {g} s mid change "
            f"(slope {beta:.3g} ± {z * se_beta:.3g}): signal_vol = 0 (off)",
        )
        return out

    def moments(s, cnt):  # s: sums of y0, y1, r1, y0*y1, y0*r1, y0^2
        my0, my1, mr = s[0] / cnt, s[1] / cnt, s[2] / cnt
        cyy = s[3] / cnt - my0 * my1
        cyr = s[4] / cnt - my0 * mr
        vy = s[5] / cnt - my0 * my0
        ph = cyy / vy
        if cyr == 0 or cyy <= 0 or ph <= 0 or ph >= 1:
            return [np.nan, np.nan]
        f = cyy / (2 * A * cyr)
        var_a = cyr * cyr / (cyy * g * g * ph)
        return [f, math.sqrt(2 * (-math.log(ph) / g) * var_a)]

    cols = np.stack([y0, y1, r1, y0 * y1, y0 * r1, y0 * y0], axis=1)
    point = moments(cols.sum(axis=0), n)
    boot = _block_bootstrap(cols, moments, n_boot, rng)
    a = 1 - level
    cis = [list(np.nanquantile(boot[:, j], [a / 2, 1 - a / 2])) for j in range(2)]
    out.update(
        fitted=bool(np.all(np.isfinite(point))),
        flow_sensitivity=point[0],
        flow_sensitivity_ci=cis[0],
        signal_vol=point[1],
        signal_vol_ci=cis[1],
    )
    if not out["fitted"]:
        out["reason"] = "moment estimates inconsistent with the model (non-positive covariances)"
        return out
    tilt = abs(point[0]) * point[1] / math.sqrt(2 * theta)  # |f| sd(alpha): the arrival tilt of a typical signal
    out["typical_tilt"] = tilt
    if tilt > 0.5:
        out.update(
            fitted=False,
            reason=f"the moment fit needs a small arrival tilt (y ~ 2 A g f alpha) but gives "
            f"|f| sd(alpha) = {tilt:.2f} > 0.5: signal_vol = 0 (off)",
        )
    return out


def _hmm_loglik(r: np.ndarray, v: np.ndarray, P: np.ndarray, with_posterior: bool = False):
    """Scaled forward(-backward) pass of a 2-state zero-mean Gaussian HMM with variances ``v``."""
    dens = np.exp(-0.5 * r[:, None] ** 2 / v[None, :]) / np.sqrt(2 * np.pi * v[None, :])
    n = r.size
    alpha = np.empty((n, 2))
    c = np.empty(n)
    pi = np.array([P[1, 0], P[0, 1]]) / max(P[0, 1] + P[1, 0], 1e-300)  # stationary distribution
    a = pi * dens[0]
    p00, p01, p10, p11 = float(P[0, 0]), float(P[0, 1]), float(P[1, 0]), float(P[1, 1])
    d0, d1 = dens[:, 0].tolist(), dens[:, 1].tolist()
    a0, a1 = float(a[0]), float(a[1])
    b0 = b1 = 0.0  # the previous step's filtered probabilities (set at t = 0 before they are read)
    for t in range(n):
        if t:
            a0, a1 = (b0 * p00 + b1 * p10) * d0[t], (b0 * p01 + b1 * p11) * d1[t]
        s = a0 + a1 or 1e-300
        b0, b1 = a0 / s, a1 / s
        alpha[t, 0], alpha[t, 1], c[t] = b0, b1, s
    ll = float(np.log(c).sum())
    if not with_posterior:
        return ll
    beta = np.ones((n, 2))
    e0, e1 = 1.0, 1.0
    for t in range(n - 2, -1, -1):
        x0, x1 = d0[t + 1] * e0, d1[t + 1] * e1
        e0, e1 = (p00 * x0 + p01 * x1) / c[t + 1], (p10 * x0 + p11 * x1) / c[t + 1]
        beta[t, 0], beta[t, 1] = e0, e1
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    xi = (alpha[:-1, :, None] * P[None] * (dens[1:] * beta[1:])[:, None, :]) / c[1:, None, None]
    return ll, gamma, xi.sum(axis=0)


def _fit_regimes(r: np.ndarray, g: float, dt: float, level: float, tick: float = 0.0, max_iter: int = 60) -> dict:
    """Two volatility regimes: a 2-state zero-mean Gaussian HMM fitted by EM to the returns on a ``g`` s grid.

    Kept only when BIC prefers it to one Gaussian (4 parameters vs 1). Gives ``regime_vol`` =
    ``[1, sigma_2 / sigma_1]`` (regime 0 the calm one, so ``sigma`` becomes the calm regime's vol) and
    the per-step transition matrix at ``dt`` from the grid's matrix through its continuous-time generator.
    CIs of the regime vols and switching rates from the observed information (numerical Hessian of the
    log-likelihood in log/logit coordinates). Returns on a coarse grid (30 s by default): on a fine one the
    price grid's zero changes make a degenerate "no move" state; variances are floored at ``tick^2 / 12``.
    """
    n = r.size
    if n < 200:
        return {"fitted": False, "reason": f"only {n} returns on the {g} s grid (need >= 200)"}
    zeros = float(np.mean(r == 0))
    if zeros > 0.2:
        return {
            "fitted": False,
            "reason": f"{zeros:.0%} of the {g} s mid changes are 0: the price moves too "
            "rarely for Gaussian regimes (a 'no move' state would pass for a calm regime)",
            "zero_fraction": zeros,
        }
    v_all = float(np.mean(r * r))
    v_floor = max(tick * tick / 12.0, 1e-6 * v_all)  # price changes are on a grid: no regime below its rounding
    ll1 = float(np.sum(stats.norm.logpdf(r, scale=math.sqrt(v_all))))
    q = np.quantile(np.abs(r), 0.5)
    v = np.array([np.mean(r[np.abs(r) <= q] ** 2), np.mean(r[np.abs(r) > q] ** 2)])
    P = np.array([[0.95, 0.05], [0.05, 0.95]])
    ll = -np.inf
    for _ in range(max_iter):
        ll_new, gamma, xi = _hmm_loglik(r, v, P, with_posterior=True)
        v = np.maximum((gamma * r[:, None] ** 2).sum(axis=0) / gamma.sum(axis=0), v_floor)
        P = xi / xi.sum(axis=1, keepdims=True)
        if ll_new - ll < 1e-6 * abs(ll_new):
            ll = ll_new
            break
        ll = ll_new
    ll = _hmm_loglik(r, v, P)
    if v[0] > v[1]:
        v, P = v[::-1].copy(), P[::-1, ::-1].copy()
    bic1, bic2 = -2 * ll1 + math.log(n), -2 * ll + 4 * math.log(n)
    out: dict[str, Any] = {"bic_1": bic1, "bic_2": bic2, "grid_s": g, "n_returns": n}
    a, b = float(P[0, 1]), float(P[1, 0])
    if not bic2 < bic1 or a + b >= 1 or a <= 0 or b <= 0:
        out.update(
            fitted=False,
            reason=f"BIC does not support a second regime (BIC 1 state {bic1:.1f}, 2 states {bic2:.1f})"
            if not bic2 < bic1
            else "fitted chain not embeddable in continuous time",
        )
        return out

    # observed information in theta = (log v0, log v1, logit a, logit b)
    def nll(th):
        vv = np.exp(th[:2])
        aa, bb = 1 / (1 + np.exp(-th[2])), 1 / (1 + np.exp(-th[3]))
        return -_hmm_loglik(r, vv, np.array([[1 - aa, aa], [bb, 1 - bb]]))

    th = np.array([math.log(v[0]), math.log(v[1]), math.log(a / (1 - a)), math.log(b / (1 - b))])
    h = 1e-3
    H = np.zeros((4, 4))
    f0 = nll(th)
    fp = [nll(th + h * e) for e in np.eye(4)]
    fm = [nll(th - h * e) for e in np.eye(4)]
    for i in range(4):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h**2
        for j in range(i + 1, 4):
            ei, ej = np.eye(4)[i], np.eye(4)[j]
            H[i, j] = H[j, i] = (nll(th + h * ei + h * ej) - fp[i] - fp[j] + f0) / h**2
    try:
        cov = np.linalg.inv(H)
        se = np.sqrt(np.maximum(np.diag(cov), 0))
    except np.linalg.LinAlgError:
        se = np.full(4, np.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    ratio = math.sqrt(v[1] / v[0])
    se_logratio = 0.5 * math.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0)) if np.all(np.isfinite(se)) else np.nan
    lam = -math.log(1 - a - b) / g  # total switching rate of the generator
    q01, q10 = a / (a + b) * lam, b / (a + b) * lam
    e = 1 - math.exp(-lam * dt)
    p01, p10 = a / (a + b) * e, b / (a + b) * e
    out.update(
        fitted=True,
        sigma_calm=math.sqrt(v[0] / g),
        sigma_calm_ci=[math.sqrt(v[0] / g) * math.exp(-z * se[0] / 2), math.sqrt(v[0] / g) * math.exp(z * se[0] / 2)],
        regime_vol=[1.0, ratio],
        regime_vol_ci=[ratio * math.exp(-z * se_logratio), ratio * math.exp(z * se_logratio)],
        rate_calm_to_volatile=q01,
        rate_volatile_to_calm=q10,
        mean_duration_s=[1 / q01, 1 / q10],
        transition_grid=P.tolist(),
        regime_transition=[[1 - p01, p01], [p10, 1 - p10]],
        occupancy=[b / (a + b), a / (a + b)],
    )
    return out


def choose_dt(A_max: float, horizon: float, dt: float | None = None, target: float = 0.1) -> float:
    """The simulator's step: the largest round dt (1, 2, 5 x 10^k s) with ``A_max dt <= target`` and a whole
    number of steps in ``horizon``; a given ``dt`` is checked (``A_max dt > 1`` or a fractional number of
    steps is an error, ``A_max dt > target`` a warning)."""

    def whole(d):
        s = horizon / d
        return abs(s - round(s)) <= 1e-9 * s and round(s) >= 1 and d < horizon

    if dt is not None:
        dt = float(dt)
        if not dt > 0:
            raise ValueError(f"calibrate: dt must be > 0, got {dt}")
        if A_max * dt > 1:
            raise ValueError(
                f"calibrate: dt = {dt} s is too long: the simulator draws at most one market order per "
                f"side per step with probability A dt = {A_max:.4g} * {dt} = {A_max * dt:.3g} > 1; "
                f"use dt <= {1 / A_max:.3g} s"
            )
        if not whole(dt):
            raise ValueError(
                f"calibrate: horizon / dt = {horizon} / {dt} must be a whole number of steps (and dt < horizon)"
            )
        if A_max * dt > target:
            warnings.warn(
                f"calibrate: A dt = {A_max * dt:.3g} > {target}: at most one market order per side per "
                f"step undercounts arrivals (the busier side's rate is {A_max:.4g}/s)",
                stacklevel=3,
            )
        return dt
    for d in ROUND_DTS:
        if A_max * d <= target and whole(d):
            return d
    raise ValueError(f"calibrate: no round dt with A dt <= {target} divides horizon {horizon} s")


# ------------------------------------------------------------------------------------------ calibrate
def calibrate(
    capture: Capture,
    *,
    dt: float | None = None,
    horizon: float = 60.0,
    vol_grid: float = 1.0,
    delta0: float | None = None,
    impact_horizon: float = 1.0,
    flow_grid: float = 1.0,
    regime_grid: float = 30.0,
    depth_from: str = "mid",
    regimes: bool = True,
    signal: bool = True,
    impact: bool = True,
    order_size: float | None = None,
    inventory_limit: float | None = None,
    competitive_distance: float | None = None,
    start: float | None = None,
    end: float | None = None,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> Calibration:
    """Fit EnvParams (instrument's price units, time in seconds) to ``capture``; see the module docstring.

    ``dt``: step (default :func:`choose_dt`); ``horizon``: episode length (s); ``vol_grid``: sampling interval
    of the mid for sigma (s); ``delta0``: fit the intensity tail from this depth (price units; default half a
    tick); ``depth_from``: ``"mid"`` or ``"touch"`` (see :func:`_fit_intensity`); ``impact_horizon``:
    after-order window of the adverse impact (s); ``flow_grid``, ``regime_grid``: bins of the signal and the
    regime HMM (s); ``start``/``end``: seconds from the capture start to calibrate on. Choices not fitted from data:
    ``order_size`` = the median market-order size rounded to one significant digit (one fill is a
    typical trade), ``inventory_limit`` = 10 lots, ``competitive_distance`` = ``max(1.05 / kappa, tick)``
    (about 1/kappa plus a little, as the project's default 0.7 at kappa = 1.5, never inside a tick).
    Raises ``ValueError`` (too short, too few market orders, a bad ``dt``).
    """
    if not (horizon > 0 and math.isfinite(horizon)):
        raise ValueError(f"calibrate: horizon must be > 0 s, got {horizon}")
    full_span = capture.duration_s
    if start is not None or end is not None:
        s0 = capture.start_ns + int(round((start or 0.0) * NS))
        s1 = capture.start_ns + int(round(end * NS)) if end is not None else capture.end_ns + 1
        if s1 <= s0:
            raise ValueError(f"calibrate: --end ({end}) must be after --start ({start})")
        capture = capture.between(s0, s1)
    if len(capture.book) < 2 or len(capture.trades) == 0:
        raise ValueError(
            f"calibrate: {len(capture.book)} book rows and {len(capture.trades)} trades in the "
            "selected part; need a book and trades"
        )
    rng = np.random.default_rng(seed)
    tick = float(capture.tick_size)
    if not tick > 0:
        raise ValueError(f"calibrate: the capture has no tick size ({tick})")
    mid, _, ok = _book_arrays(capture)
    t_start, t_end = capture.start_ns, capture.end_ns

    def mid_at(times):
        return F.sample_on_grid(capture.book.ts_ns, mid, times, valid=ok)

    # sigma and the vol signature
    fine = min(0.1, vol_grid)
    grid_fine = F.time_grid(t_start, t_end, fine)
    m_fine = mid_at(grid_fine)
    signature = F.realized_vol(m_fine, fine, [h for h in VOL_SIGNATURE_S if h >= fine])
    sig = _fit_sigma(mid_at(F.time_grid(t_start, t_end, vol_grid)), vol_grid, level, n_boot, rng)
    # fill intensity
    fit = _fit_intensity(capture, tick, delta0, level, t_end, depth_from)
    A, kappa = fit["A"], fit["kappa"]
    A_max = max(fit["A_buy"], fit["A_sell"])
    dt_given = dt is not None
    dt = choose_dt(A_max, horizon, dt)
    n_steps = int(round(horizon / dt))

    not_fitted: dict[str, str] = {}
    params: dict[str, Any] = {
        "horizon": float(horizon),
        "dt": float(dt),
        "mid0": 0.0,
        "tick_size": tick,
        "sigma": sig["sigma"],
        "arrival_rate": A,
        "kappa": kappa,
    }
    ci: dict[str, list[float]] = {"sigma": sig["ci"], "arrival_rate": fit["A_ci"], "kappa": fit["kappa_ci"]}
    diag: dict[str, Any] = {
        "instrument": capture.instrument,
        "venue": capture.venue,
        "source": str(capture.source),
        "span_s": capture.duration_s,
        "capture_span_s": full_span,
        "valid_book_s": fit["valid_book_s"],
        "n_book_rows": len(capture.book),
        "n_prints": len(capture.trades),
        "n_market_orders": fit["n_groups"],
        "n_market_orders_fitted": fit["n_orders"],
        "n_buy": fit["n_buy"],
        "n_sell": fit["n_sell"],
        "n_inside_spread": fit["n_inside_spread"],
        "n_without_valid_book": fit["n_without_valid_book"],
        "n_levels_beyond_first": fit["n_beyond_best_levels"],
        "fano_60s": fit["fano_60s"],
        "sigma_rv": sig["sigma"],
        "sigma_method": f"realised variance on a {vol_grid} s grid, {level:.0%} block-bootstrap "
        f"percentile CI ({n_boot} resamples of blocks of n^(1/3) returns)",
        "sigma_ci_chi2": sig["ci_chi2"],
        "n_returns": sig["n_returns"],
        "return_kurtosis": sig["kurtosis"],
        "vol_grid_s": vol_grid,
        "vol_signature": {str(k): v for k, v in signature.items()},
        "kappa_method": f"geometric MLE of the price levels each market order reached beyond "
        f"{'the first level >= delta0 from the mid' if depth_from == 'mid' else 'its best quote'} "
        f"(delta0 = {fit['delta0']:.6g}), profile-likelihood CI",
        "depth_from": depth_from,
        "delta0": fit["delta0"],
        "n_below_delta0": fit["n_below_delta0"],
        "sigma_notes": [],
        "arrival_rate_method": "orders at or beyond delta0 / exposure (valid book time weighted by exp(-kappa * "
        "threshold depth)), mean of the two sides; delta-method CI with the Fano factor and kappa's error",
        "arrival_rate_buy": fit["A_buy"],
        "arrival_rate_buy_ci": fit["A_buy_ci"],
        "arrival_rate_sell": fit["A_sell"],
        "arrival_rate_sell_ci": fit["A_sell_ci"],
        "kappa_per_side": fit["kappa_per_side"],
        "seen_order_rate": (fit["n_buy"] + fit["n_sell"]) / (2 * fit["valid_book_s"]),
        "mean_half_spread": fit["mean_truncation_depth"],
        "A_max_dt": A_max * dt,
        "mid0_note": "prices relative to the mid (mid0 = 0): the model is translation invariant",
    }
    if fit["note"]:
        diag["kappa_note"] = fit["note"]
    fitted = ["sigma", "arrival_rate", "kappa"]

    if impact:
        event = _fit_impact(capture, fit, impact_horizon, level)
        imp = _fit_impact_regression(fit, mid_at, vol_grid, level, n_boot, rng)
        diag["impact"] = {**imp, "event_study": event}
        if imp.get("fitted"):
            params["adverse_impact"] = imp["mean"]
            ci["adverse_impact"] = list(imp["ci"])
            fitted.append("adverse_impact")
            # the simulator's impact jumps (one per arrival, rate A per side) add 2 A impact^2 to the mid's
            # variance per second: sigma keeps the rest, so that the simulated mid is as volatile as the data's
            share = 2 * A * imp["mean"] ** 2 / sig["sigma"] ** 2
            diag["impact_variance_share"] = share
            if share < 1:
                f = math.sqrt(1 - share)
                params["sigma"] = sig["sigma"] * f
                ci["sigma"] = [x * f for x in ci["sigma"]]
                diag["sigma_notes"].append(
                    f"sigma excludes the impact jumps' share ({share:.1%}) of the realised variance"
                )
            else:
                diag["sigma_notes"].append(
                    f"impact jumps would explain {share:.0%} of the realised variance: sigma is "
                    "left at the realised value (the simulated mid is more volatile than the data)"
                )
        else:
            not_fitted["adverse_impact"] = imp.get("reason") or (
                f"impact per order {imp['mean']:.3g} not significant (CI [{imp['ci'][0]:.3g}, {imp['ci'][1]:.3g}]): 0"
            )
    if signal:
        sg = _fit_signal(capture, fit, mid_at, flow_grid, A, level, max(200, n_boot // 2), rng)
        diag["signal"] = sg
        if "signal_reversion" in sg:
            params["signal_reversion"] = sg["signal_reversion"]
            ci["signal_reversion"] = sg["signal_reversion_ci"]
        if sg.get("fitted"):
            params["signal_vol"], params["flow_sensitivity"] = sg["signal_vol"], sg["flow_sensitivity"]
            ci["signal_vol"], ci["flow_sensitivity"] = sg["signal_vol_ci"], sg["flow_sensitivity_ci"]
            fitted += ["signal_reversion", "signal_vol", "flow_sensitivity"]
        else:
            not_fitted["signal"] = sg["reason"]
    n_regimes = 1
    if regimes:
        r = np.diff(mid_at(F.time_grid(t_start, t_end, regime_grid)))
        rg = _fit_regimes(r[np.isfinite(r)], regime_grid, dt, level, tick)
        diag["regimes"] = rg
        if rg.get("fitted"):
            n_regimes = 2
            params["regime_vol"] = rg["regime_vol"]
            params["regime_transition"] = rg["regime_transition"]
            ci["regime_vol"] = rg["regime_vol_ci"]  # of the second multiplier (the first is 1)
            fitted += ["regime_vol", "regime_transition"]
            # sigma is the calm regime's: scale the realised one by the calm regime's share of the variance
            occ = rg["occupancy"]
            f = 1.0 / math.sqrt(occ[0] + occ[1] * rg["regime_vol"][1] ** 2)
            params["sigma"] *= f
            ci["sigma"] = [x * f for x in ci["sigma"]]
            diag["sigma_notes"].append("sigma is the calm regime's vol (regime_vol = [1, ratio]); sigma_rv the overall")
        else:
            not_fitted["regimes"] = rg["reason"]

    med = float(np.median(F.market_orders(capture.trades)["size"]))
    if order_size is None:
        order_size = float(f"{med:.1g}") if med > 0 else 1.0
    if inventory_limit is None:
        inventory_limit = 10.0 * order_size
    if competitive_distance is None:
        competitive_distance = max(1.05 / kappa, tick)
    params.update(
        order_size=float(order_size),
        inventory_limit=float(inventory_limit),
        competitive_distance=float(competitive_distance),
    )
    diag.update(
        fitted=fitted,
        not_fitted=not_fitted,
        median_market_order_size=med,
        choices={
            "order_size": "median market-order size, 1 significant digit",
            "inventory_limit": "10 lots",
            "competitive_distance": "max(1.05 / kappa, tick_size)",
            "mid0": "0 (relative prices)",
            "dt": "largest round dt with A_max dt <= 0.1 and a whole number of steps" if not dt_given else "given",
        },
    )
    cal = Calibration(
        params=params,
        ci={k: [float(a), float(b)] for k, (a, b) in ((k, v[:2]) for k, v in ci.items())},
        dt=float(dt),
        n_steps=n_steps,
        n_regimes=n_regimes,
        level=level,
        diagnostics=diag,
        curves={
            "depth_grid": fit["depth_grid"],
            "lambda_empirical": fit["lambda_empirical"],
            "lambda_fit": fit["lambda_fit"],
            "signature_h": list(signature),
            "signature_sigma": list(signature.values()),
            "vol_grid": vol_grid,
            "returns": sig["returns"],
        },
    )
    cal.make_params()  # validate: raises ValueError naming the field
    return cal


def to_json_text(cal: Calibration) -> str:
    return json.dumps(cal.to_json(), indent=2)
