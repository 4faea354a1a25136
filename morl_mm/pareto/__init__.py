"""morl_mm.pareto"""
