"""morl_mm.agents"""
