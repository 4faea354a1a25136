"""morl_mm.policies"""
