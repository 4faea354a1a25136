"""The step of backward induction that picks the best joint quote: every pair, or a proven window.

At each (time, inventory q, regime r) the solver maximises over bid i and ask j

    g_bid[i] + g_ask[j] + beta f_bid[i] f_ask[j]

(:mod:`morl_mm.oracle.model`), ties to the lowest (i, j). :func:`best_pair_full` tries every pair
((M+1)^2 per state). With the continuous mode's 251 depths that is 63,504 pairs a state and most of
a solve; :func:`best_pair_banded` finds the same pair among a window of ``band`` actions per side:

* for a fixed interaction x (the other side's ``beta f``), side action j is worth the line
  s_j + f_j (D + x) in x, with s_j its scalarised quote reward (fixed per weight) and D the step's
  continuation gain of a fill; only the lines on the upper envelope of (f_j, s_j) are ever a best
  response (:func:`envelope_lines`, once per weight);
* x lies in [min(0, beta f_max), max(0, beta f_max)], and best responses move monotonically in the
  slope f as x grows (single crossing), so every best response, in particular both halves of the
  optimal pair, sits in the window of envelope lines between the flattest best response at the
  low end and the steepest at the high end (:func:`response_window`);
* where some window holds more than ``band`` lines the step takes the full search instead
  (:func:`best_pair`), so the tables are those of the full search, ties included.

The banded search works action-major, arrays (M+1, Q, R): XLA reduces over the leading axis of
small arrays several times faster than over the trailing one on CPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEAR_TIE = 1e-12  # relative: values this close to the best count as best responses (the window only widens)


def best_pair_full(m, scalar_parts):
    """Best joint action (i_bid, i_ask) (Q, R) over every pair, from the scalarised step parts
    (W (Q, R), G_bid / G_ask (Q, R, M+1), beta (Q, R)), ties to the lowest (i, j).

    Takes the best ask for every bid (a max, no argmax, over the (Q, R, M+1, M+1) tensor: much
    faster on CPU than one big argmax), then the best bid, then that bid's best ask."""
    _, g_bid, g_ask, beta = scalar_parts
    slope = beta[..., None] * m["fill_bid"][:, None, :]  # (Q, R, M+1): x_i = beta f_bid[i]
    best_ask_value = jnp.max(g_ask[..., None, :] + slope[..., :, None] * m["fill_ask"][:, None, None, :], -1)
    i_bid = jnp.argmax(g_bid + best_ask_value, axis=-1)
    slope_i = jnp.take_along_axis(slope, i_bid[..., None], axis=-1)
    return i_bid, jnp.argmax(g_ask + slope_i * m["fill_ask"][:, None, :], axis=-1)


def envelope_lines(lines, fill):
    """Which actions of one side can ever be a best response: the upper envelope of the lines
    s_j + f_j z, s = ``lines`` (R, M+1), f = ``fill`` (M+1,). Returns ``order`` (M+1, R): the
    envelope's actions in ascending slope, padded with its last one, and ``rank`` (M+1, R): each
    action's position in it (-1 off it). Lines that touch the envelope in a point (and
    rounding-level near misses) count as on it: the set only grows."""
    n_side = fill.size
    gap = fill[:, None] - fill[None, :]  # f_j - f_k
    cross = (lines[:, None, :] - lines[:, :, None]) / jnp.where(gap == 0, 1.0, gap)  # z where j and k tie
    above = jnp.max(jnp.where(gap > 0, cross, -jnp.inf), -1)  # j beats every flatter line above this z
    below = jnp.min(jnp.where(gap < 0, cross, jnp.inf), -1)  # ... and every steeper one below this z
    twin = jnp.any((gap == 0) & (lines[:, None, :] > lines[:, :, None]), -1)  # an equal slope, higher line
    size = lambda x: jnp.where(jnp.isfinite(x), jnp.abs(x), 0.0)  # noqa: E731
    on = (above <= below + 1e-9 * (1.0 + size(above) + size(below))) & ~twin  # (R, M+1)
    by_slope = jnp.argsort(fill, stable=True).astype(jnp.int32)
    on_sorted = on[:, by_slope]
    position = (jnp.cumsum(on_sorted, -1) - 1).astype(jnp.int32)
    slot = jnp.where(on_sorted, position, n_side)  # off the envelope: dropped
    order = jax.vmap(lambda s: jnp.zeros(n_side + 1, jnp.int32).at[s].set(by_slope)[:-1])(slot)
    order = jnp.take_along_axis(order, jnp.minimum(jnp.arange(n_side), position[:, -1:]), -1)
    rank = jax.vmap(lambda s, p: jnp.full(n_side, -1, jnp.int32).at[by_slope].set(jnp.where(s < n_side, p, -1)))(
        slot, position)
    return order.T, rank.T


def _first_max(values, axis=0):
    """argmax over ``axis`` (ties to the lowest index) as a max and a min: faster than argmax on CPU."""
    best = values.max(axis, keepdims=True)
    index = jax.lax.broadcasted_iota(jnp.int32, values.shape, axis)
    return jnp.min(jnp.where(values >= best, index, values.shape[axis]), axis)


def response_window(envelope, g, f, blocked, x_low, x_high, band):
    """The ``band`` actions (band, Q, R) of one side that hold every best response of that side to an
    interaction x in [x_low, x_high] (Q, R), and where they provably do (Q, R).

    g (M+1, Q, R): the side's values; its value against x is g + x f, f (M+1, Q, 1). A blocked side
    (``blocked`` (Q, 1), withdrawn either way) needs no window."""
    order, rank = envelope  # (M+1, R)
    rank = rank[:, None, :]
    n_side = g.shape[0]

    def responses(x):
        values = g + x[None] * f
        best = values.max(0, keepdims=True)
        return (rank >= 0) & (values >= best - NEAR_TIE * (1.0 + jnp.abs(best)))

    first = jnp.min(jnp.where(responses(x_low), rank, n_side), 0)  # (Q, R)
    last = jnp.max(jnp.where(responses(x_high), rank, -1), 0)
    start = jnp.clip(first, 0, n_side - band)
    offsets = jnp.arange(band, dtype=jnp.int32)[:, None, None]
    window = jnp.take_along_axis(jnp.broadcast_to(order[:, None, :], g.shape), start[None] + offsets, 0)
    return window, (last - first < band) | blocked


def best_pair_banded(m, envelopes, scalar_parts, band):
    """:func:`best_pair_full` over a window of ``band`` actions per side, action-major parts
    (W (Q, R), G_bid / G_ask (M+1, Q, R), beta (Q, R)); returns (i_bid, i_ask, exact): the full
    search's choice, ties included, where ``exact`` (a bool over all states)."""
    _, g_bid, g_ask, beta = scalar_parts
    fill_bid, fill_ask = m["fill_bid"].T[:, :, None], m["fill_ask"].T[:, :, None]  # (M+1, Q, 1)
    reach_bid, reach_ask = beta * fill_ask.max(0), beta * fill_bid.max(0)  # x = beta f_other lies in [0, reach]
    bids, bids_exact = response_window(envelopes[0], g_bid, fill_bid, m["bid_open"][:, None] == 0,
                                       jnp.minimum(reach_bid, 0.0), jnp.maximum(reach_bid, 0.0), band)
    asks, asks_exact = response_window(envelopes[1], g_ask, fill_ask, m["ask_open"][:, None] == 0,
                                       jnp.minimum(reach_ask, 0.0), jnp.maximum(reach_ask, 0.0), band)
    slope = beta[None] * fill_bid  # (M+1, Q, R): x_i = beta f_bid[i]
    # the window's pairs (Q, R, band, band), reduced over the trailing axis (the fast one for this tensor)
    pick = lambda x, i: jnp.moveaxis(jnp.take_along_axis(jnp.broadcast_to(x, g_bid.shape), i, 0), 0, -1)  # noqa: E731
    best_ask_value = jnp.max(pick(g_ask, asks)[..., None, :]
                             + pick(slope, bids)[..., :, None] * pick(fill_ask, asks)[..., None, :], -1)
    total = pick(g_bid, bids) + best_ask_value  # (Q, R, band): the full search's numbers
    bids = jnp.moveaxis(bids, 0, -1)
    i_bid = jnp.min(jnp.where(total >= total.max(-1, keepdims=True), bids, g_bid.shape[0]), -1)  # ties to the lowest
    slope_i = jnp.take_along_axis(slope, i_bid[None], 0)
    i_ask = _first_max(g_ask + slope_i * fill_ask)
    return i_bid, i_ask, jnp.all(bids_exact & asks_exact)


def best_pair(m, envelopes, scalar_parts, band):
    """The best joint action (i_bid, i_ask) (Q, R) from action-major parts: banded where that is exact,
    else the full search (a real branch unless vmapped)."""
    i_bid, i_ask, exact = best_pair_banded(m, envelopes, scalar_parts, band)

    def full():
        w, g_bid, g_ask, beta = scalar_parts
        i_full = best_pair_full(m, (w, jnp.moveaxis(g_bid, 0, -1), jnp.moveaxis(g_ask, 0, -1), beta))
        return tuple(i.astype(jnp.int32) for i in i_full)

    return jax.lax.cond(exact, lambda: (i_bid.astype(jnp.int32), i_ask.astype(jnp.int32)), full)
