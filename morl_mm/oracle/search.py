"""The step of backward induction that picks the best joint quote: every pair, or a proven window.

At each (time, inventory q, regime r) the solver maximises over bid i and ask j

    g_bid[i] + g_ask[j] + beta f_bid[i] f_ask[j]

(:mod:`morl_mm.oracle.model`), ties to the lowest (i, j). :func:`best_pair_full` tries every pair
((M+1)^2 per state). With the continuous mode's 251 depths that is 63,504 pairs a state and most of
a solve; :func:`best_pair_banded` finds the same pair among a window of ``band`` actions per side:

* for a fixed interaction x (the other side's ``beta f``), side action j is worth the line
  s_j + f_j (D + x) in x, with s_j its scalarised quote reward (fixed per weight) and D the step's
  continuation gain of a fill; only the lines of the upper envelope of (f_j, s_j) are ever the
  lowest-index best response, the one the full search keeps (:func:`envelope_lines`, once per weight);
* x lies in [min(0, beta f_max), max(0, beta f_max)], and best responses move monotonically in the
  slope f as x grows (single crossing), so every best response, in particular both halves of the
  optimal pair, sits in the window of envelope lines between the flattest best response at the
  low end and the steepest at the high end (:func:`response_span`);
* each step takes the narrowest of a few window sizes that holds every state's window, the full
  search where none does (:func:`best_pair`), so the tables are those of the full search, ties
  included.

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
    """Which actions of one side can be the lowest-index best response: the lines s_j + f_j z of the
    upper envelope (s = ``lines`` (R, M+1), f = ``fill`` (M+1,)), each best on an interval of z.

    A line that only touches the envelope in a point z* ties there with the envelope's line to the
    right of z*, which is steeper; where steeper means a lower index (depths in increasing order,
    "off" last, as :class:`~morl_mm.oracle.dp.Solver` requires for this search), the full search's
    tie-break never picks it. Returns ``order`` (M+1, R): the envelope's actions in ascending slope,
    padded with its last one, and ``rank`` (M+1, R): each action's position in it (-1 off it)."""
    n_side = fill.size
    gap = fill[:, None] - fill[None, :]  # f_j - f_k
    cross = (lines[:, None, :] - lines[:, :, None]) / jnp.where(gap == 0, 1.0, gap)  # z where j and k tie
    above = jnp.max(jnp.where(gap > 0, cross, -jnp.inf), -1)  # j beats every flatter line above this z
    below = jnp.min(jnp.where(gap < 0, cross, jnp.inf), -1)  # ... and every steeper one below this z
    twin = jnp.any((gap == 0) & (lines[:, None, :] > lines[:, :, None]), -1)  # an equal slope, higher line
    on = (above < below) & ~twin  # (R, M+1): best on an interval of positive length
    by_slope = jnp.argsort(fill, stable=True).astype(jnp.int32)
    on_sorted = on[:, by_slope]
    position = (jnp.cumsum(on_sorted, -1) - 1).astype(jnp.int32)
    slot = jnp.where(on_sorted, position, n_side)  # off the envelope: dropped
    order = jax.vmap(lambda s: jnp.zeros(n_side + 1, jnp.int32).at[s].set(by_slope)[:-1])(slot)
    order = jnp.take_along_axis(order, jnp.minimum(jnp.arange(n_side), position[:, -1:]), -1)
    rank = jax.vmap(lambda s, p: jnp.full(n_side, -1, jnp.int32).at[by_slope].set(jnp.where(s < n_side, p, -1)))(
        slot, position
    )
    return order.T, rank.T


def _first_max(values, axis=0):
    """argmax over ``axis`` (ties to the lowest index) as a max and a min: faster than argmax on CPU."""
    best = values.max(axis, keepdims=True)
    index = jax.lax.broadcasted_iota(jnp.int32, values.shape, axis)
    return jnp.min(jnp.where(values >= best, index, values.shape[axis]), axis)


def response_span(envelope, g, f, blocked, x_low, x_high):
    """Where every best response of one side to an interaction x in [x_low, x_high] (Q, R) lies: the
    positions ``first`` .. ``last`` (Q, R) in the side's envelope (:func:`envelope_lines`), and how
    many positions that is (0 where the side is blocked, ``blocked`` (Q, 1): withdrawn either way).

    g (M+1, Q, R): the side's values; its value against x is g + x f, f (M+1, Q, 1). Best responses
    move monotonically in the slope as x grows (single crossing), so every best response to an x in
    the interval lies between the flattest one at x_low and the steepest one at x_high."""
    rank = envelope[1][:, None, :]  # (M+1, 1, R)
    n_side = g.shape[0]

    def responses(x):
        values = g + x[None] * f
        best = values.max(0, keepdims=True)
        return (rank >= 0) & (values >= best - NEAR_TIE * (1.0 + jnp.abs(best)))

    first = jnp.min(jnp.where(responses(x_low), rank, n_side), 0)  # (Q, R)
    last = jnp.max(jnp.where(responses(x_high), rank, -1), 0)
    return first, jnp.where(blocked, 0, last - first + 1)


def _window(envelope, first, band, shape):
    """The ``band`` envelope actions (band, Q, R) from position ``first`` (clipped to fit)."""
    start = jnp.clip(first, 0, shape[0] - band)
    offsets = jnp.arange(band, dtype=jnp.int32)[:, None, None]
    return jnp.take_along_axis(jnp.broadcast_to(envelope[0][:, None, :], shape), start[None] + offsets, 0)


def _spans(m, envelopes, scalar_parts):
    """:func:`response_span` of both sides: ((first_bid, width_bid), (first_ask, width_ask))."""
    _, g_bid, g_ask, beta = scalar_parts
    fill_bid, fill_ask = m["fill_bid"].T[:, :, None], m["fill_ask"].T[:, :, None]  # (M+1, Q, 1)
    reach_bid, reach_ask = beta * fill_ask.max(0), beta * fill_bid.max(0)  # x = beta f_other lies in [0, reach]
    return (
        response_span(
            envelopes[0],
            g_bid,
            fill_bid,
            m["bid_open"][:, None] == 0,
            jnp.minimum(reach_bid, 0.0),
            jnp.maximum(reach_bid, 0.0),
        ),
        response_span(
            envelopes[1],
            g_ask,
            fill_ask,
            m["ask_open"][:, None] == 0,
            jnp.minimum(reach_ask, 0.0),
            jnp.maximum(reach_ask, 0.0),
        ),
    )


def best_pair_banded(m, envelopes, scalar_parts, spans, band):
    """:func:`best_pair_full` over windows of ``band`` actions per side, action-major parts
    (W (Q, R), G_bid / G_ask (M+1, Q, R), beta (Q, R)) and the sides' :func:`response_span`s:
    the full search's choice, ties included, where no span is wider than ``band``."""
    _, g_bid, g_ask, beta = scalar_parts
    fill_bid, fill_ask = m["fill_bid"].T[:, :, None], m["fill_ask"].T[:, :, None]
    bids, asks = (_window(e, span[0], band, g_bid.shape) for e, span in zip(envelopes, spans))
    slope = beta[None] * fill_bid  # (M+1, Q, R): x_i = beta f_bid[i]
    # the window's pairs (Q, R, band, band), reduced over the trailing axis (the fast one for this tensor)
    pick = lambda x, i: jnp.moveaxis(jnp.take_along_axis(jnp.broadcast_to(x, g_bid.shape), i, 0), 0, -1)  # noqa: E731
    best_ask_value = jnp.max(
        pick(g_ask, asks)[..., None, :] + pick(slope, bids)[..., :, None] * pick(fill_ask, asks)[..., None, :], -1
    )
    total = pick(g_bid, bids) + best_ask_value  # (Q, R, band): the full search's numbers
    bids = jnp.moveaxis(bids, 0, -1)
    i_bid = jnp.min(jnp.where(total >= total.max(-1, keepdims=True), bids, g_bid.shape[0]), -1)  # ties to the lowest
    slope_i = jnp.take_along_axis(slope, i_bid[None], 0)
    return i_bid.astype(jnp.int32), _first_max(g_ask + slope_i * fill_ask).astype(jnp.int32)


def best_pair(m, envelopes, scalar_parts, bands):
    """The best joint action (i_bid, i_ask) (Q, R) from action-major parts: over the narrowest of the
    window sizes ``bands`` (ascending) that holds this step's best responses, else every pair (a real
    branch unless vmapped)."""
    spans = _spans(m, envelopes, scalar_parts)
    width = jnp.maximum(spans[0][1].max(), spans[1][1].max())

    def full():
        w, g_bid, g_ask, beta = scalar_parts
        i_full = best_pair_full(m, (w, jnp.moveaxis(g_bid, 0, -1), jnp.moveaxis(g_ask, 0, -1), beta))
        return tuple(i.astype(jnp.int32) for i in i_full)

    branches = [lambda band=band: best_pair_banded(m, envelopes, scalar_parts, spans, band) for band in bands]
    return jax.lax.switch(jnp.sum(width > jnp.asarray(bands)), branches + [full])
