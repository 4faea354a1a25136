"""Every learner a study can name, and the action mode each is limited to: a leaf table that the study
config reads without importing the learners (or torch)."""

NATIVE_ALGORITHMS = ("ppo", "dqn", "ppo_adversarial")
"""The JAX learners of this package (morl_mm.agents.registry trains them by name)."""
NATIVE_MODES = {"dqn": "discrete"}
"""Action modes a native learner is limited to (the others train in either)."""
ON_POLICY = ("ppo", "ppo_adversarial")
"""Learners that train in whole updates of ``num_envs * num_steps`` env steps (PPO's config)."""
BASELINE_ALGORITHMS = {
    "gpi_ls": "discrete",
    "gpi_pd": "discrete",
    "envelope": "discrete",
    "pcn": "discrete",
    "capql": "continuous",
    "pgmorl": "continuous",
    "morld": "continuous",
}
"""Every morl-baselines adapter (morl_mm.agents.morl_baselines, optional extra) and the action mode of the
env it trains on."""
