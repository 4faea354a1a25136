"""morl_mm.evaluation"""
