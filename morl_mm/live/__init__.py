"""Deployment: a quote engine over a market-data stream, order routing (simulated venue or FIX 4.4),
risk limits and online monitoring of a selected policy."""
