"""Learners: weight-conditioned PPO and DQN in JAX (ppo.py, dqn.py), train-by-name (registry.py), and
adapters to morl-baselines (morl_baselines.py, optional extra). Import the modules directly."""
