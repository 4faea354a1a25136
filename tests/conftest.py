"""Suite-wide settings, applied before JAX starts its backend."""

import os

# jax 0.10's CPU scheduler can deadlock when a training loop is vmapped over seeds or weights (the
# network parameters batched); the older scheduler does not. Must be set before the first JAX call.
_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"
if _FLAG.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
