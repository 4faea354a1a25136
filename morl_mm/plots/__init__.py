"""morl_mm.plots"""
