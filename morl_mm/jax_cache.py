"""The persistent XLA compilation cache of the command line: a second run reuses the first run's compiled code.

JAX writes each compiled program to the cache folder and loads it instead of recompiling when the
same program (same shapes, same jax and XLA) comes again; results are the same, only the compile
time goes. ``morl-mm oracle`` turns it on (:func:`enable_compilation_cache`): the folder is
``$MORL_MM_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/morl_mm/jax`` (``~/.cache/morl_mm/jax``);
``MORL_MM_COMPILE_CACHE=off`` keeps it off, and a cache folder configured for JAX itself
(``JAX_COMPILATION_CACHE_DIR``) is left as it is. The first run in a fresh folder compiles as usual.
"""

from __future__ import annotations

import os

import jax

ENV_VAR = "MORL_MM_COMPILE_CACHE"
OFF = ("0", "off", "false", "no")


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/morl_mm/jax``, ``~/.cache/morl_mm/jax`` without it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "morl_mm", "jax")


def enable_compilation_cache() -> str | None:
    """Turn JAX's persistent compilation cache on (see the module doc); returns its folder, None when off."""
    setting = os.environ.get(ENV_VAR, "").strip()
    if setting.lower() in OFF:
        return None
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return configured
    path = setting or default_cache_dir()
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)  # the oracle's programs: 0.2-2 s each
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
