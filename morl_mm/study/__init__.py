"""morl_mm.study"""
