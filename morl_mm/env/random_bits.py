"""Counter-based random numbers for the simulator: integer hashes that XLA fuses into the step.

A step needs a handful of random numbers per env (two fill uniforms, a normal for the mid, a few
more for the optional parts). Drawing them with ``jax.random`` runs threefry (20 rounds of a
block cipher) for every step of every env, and that cost dominated the env. Here every number is
a hash of a *counter*: ``(episode words, step index, stream)``, where the two 32-bit episode words
come from the key the episode was reset with (and the step's own key), the step index is
``state.time`` and the stream numbers the quantity drawn (see :data:`STREAMS`). The hash is
``lowbias32`` (two multiply-xorshift rounds, a bijection of uint32) applied twice::

    inner  = hash32(w0 ^ (t * GOLDEN))            # once per step
    bits_i = hash32(w1 ^ inner ^ (i + 1) * STREAM) # once per stream i

For a fixed env the inner value is a bijection of ``t``; two envs whose inner values collide still
differ in ``w1``, so no 32-bit bottleneck ties two envs' streams together. Uniforms take the top
24 bits (``(k + 1/2) / 2^24``: never 0 or 1); normals come from Box-Muller with a polynomial
sine (no library trigonometry, which XLA does not vectorise on CPU). Everything is elementwise
uint32/float32 arithmetic, so it is pure, jittable and vmappable like the rest of the env.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

GOLDEN = 0x9E3779B9  # 2^32 / golden ratio (odd): spreads consecutive step indices over the words
STREAM = 0x632BE5AB  # odd multiplier that separates the streams of one step
SEED_TWEAK = (0x85EBCA6B, 0xC2B2AE35)  # makes the episode words differ from the raw key words

STREAMS = {
    "fill_bid": 0,  # uniform: market sell order arrives / fills the bid
    "fill_ask": 1,  # uniform: market buy order arrives / fills the ask
    "mid_radius": 2,  # Box-Muller radius of the (mid, signal) normal pair
    "mid_angle": 3,  # Box-Muller angle of the (mid, signal) normal pair
    "jump": 4,  # uniform: a jump happens
    "jump_radius": 5,  # Box-Muller radius of the jump size normal
    "jump_angle": 6,  # Box-Muller angle of the jump size normal
    "regime": 7,  # uniform: the regime's next state
    "reset_0": 8,  # the two words of the key that resets the next episode
    "reset_1": 9,
}
"""Which stream of the step's counter hash draws what. A stream is drawn only when its part of the
model is compiled in, and never shifts the others: switching a part off leaves the rest unchanged."""


def hash32(x: jnp.ndarray) -> jnp.ndarray:
    """lowbias32 (C. Wellons): two multiply-xorshift rounds, a bijection of uint32 with good avalanche."""
    x = jnp.asarray(x, jnp.uint32)
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def key_words(key: jax.Array) -> jnp.ndarray:
    """The (..., 2) uint32 words of a JAX key (typed or raw uint32); longer key data is folded in."""
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    data = jnp.asarray(data, jnp.uint32)
    words = [data[..., 0], data[..., 1]]
    for i in range(2, data.shape[-1]):  # e.g. the 4 words of an rbg key
        words[i % 2] = hash32(words[i % 2] ^ data[..., i])
    return jnp.stack(words, axis=-1)


def episode_words(key: jax.Array) -> jnp.ndarray:
    """The (2,) words an episode reset with ``key`` hashes its counters with."""
    w = key_words(key)
    w0 = hash32(w[..., 0] ^ jnp.uint32(SEED_TWEAK[0]))
    w1 = hash32(w[..., 1] ^ w0 ^ jnp.uint32(SEED_TWEAK[1]))
    return jnp.stack([w0, w1], axis=-1)


def step_bits(words: jnp.ndarray, time: jnp.ndarray, streams) -> dict[str, jnp.ndarray]:
    """uint32 bits of the named ``streams`` (see :data:`STREAMS`) at step ``time`` of the episode ``words``."""
    inner = hash32(words[..., 0] ^ (jnp.asarray(time).astype(jnp.uint32) * jnp.uint32(GOLDEN)))
    base = words[..., 1] ^ inner
    return {name: hash32(base ^ jnp.uint32(((STREAMS[name] + 1) * STREAM) & 0xFFFFFFFF)) for name in streams}


def uniform(bits: jnp.ndarray) -> jnp.ndarray:
    """float32 in (0, 1) from uint32 bits: ``(k + 1/2) / 2^24`` with ``k`` the top 24 bits."""
    k = (bits >> 8).astype(jnp.int32).astype(jnp.float32)
    return k * np.float32(2.0**-24) + np.float32(2.0**-25)


# odd polynomial for sin(2 pi b) on |b| <= 1/4: the Taylor series of sin(x) to x^11, x = 2 pi b
# (truncation error below (pi/2)^13 / 13! = 6e-8 there, about float32's resolution)
_SIN_COEFFS = tuple(
    np.float32((-1) ** k * (2 * np.pi) ** (2 * k + 1) / float(np.prod(np.arange(1, 2 * k + 2)))) for k in range(6)
)


def _sin_2pi_quarter(b: jnp.ndarray) -> jnp.ndarray:
    """sin(2 pi b) for |b| <= 1/4 (Horner in b^2)."""
    b2 = b * b
    acc = jnp.float32(_SIN_COEFFS[-1])
    for c in _SIN_COEFFS[-2::-1]:
        acc = acc * b2 + c
    return acc * b


def cos_2pi(u: jnp.ndarray) -> jnp.ndarray:
    """cos(2 pi u) for u in [0, 1]: cos(2 pi u) = sin(2 pi (|u - 1/2| - 1/4))."""
    return _sin_2pi_quarter(jnp.abs(u - 0.5) - 0.25)


def sin_2pi(u: jnp.ndarray) -> jnp.ndarray:
    """sin(2 pi u) for u in [0, 1]: fold onto |b| <= 1/4 around the extrema at 1/4 and 3/4."""
    v = jnp.where(u > 0.75, u - 1.0, u)  # in (-1/4, 3/4]
    b = jnp.where(v > 0.25, 0.5 - v, v)
    return _sin_2pi_quarter(b)


def radius(u: jnp.ndarray) -> jnp.ndarray:
    """Box-Muller radius sqrt(-2 log u) of a uniform u in (0, 1)."""
    return jnp.sqrt(-2.0 * jnp.log(u))


def normal_pair(u_radius: jnp.ndarray, u_angle: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Two independent standard normals (Box-Muller) from two independent uniforms in (0, 1)."""
    r = radius(u_radius)
    return r * cos_2pi(u_angle), r * sin_2pi(u_angle)


def split_words(words: jnp.ndarray, time: jnp.ndarray) -> jnp.ndarray:
    """(2,) words of the key that resets the episode after step ``time`` (its own streams, so the
    reset never reuses a number the step drew)."""
    bits = step_bits(words, time, ("reset_0", "reset_1"))
    return jnp.stack([bits["reset_0"], bits["reset_1"]], axis=-1)


def as_key(words: jnp.ndarray, like: jax.Array) -> jax.Array:
    """A key of the same kind as ``like`` (typed of its implementation, or raw uint32) whose data are
    ``words`` (2,), extended by hashing where the implementation's key data are longer."""
    typed = jnp.issubdtype(like.dtype, jax.dtypes.prng_key)
    n = (jax.random.key_data(like) if typed else like).shape[-1]
    data = [words[..., 0], words[..., 1]]
    while len(data) < n:
        data.append(hash32(data[-1] ^ data[-2]))
    data = jnp.stack(data[:n], axis=-1)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(like)) if typed else data
