"""morl_mm.oracle"""
