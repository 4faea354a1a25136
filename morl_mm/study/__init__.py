"""Study configs -> sweeps -> labelled results (xarray) on disk, and selection from them."""

from morl_mm.study.config import ConfigError, StudyConfig, load_config, parse_config
from morl_mm.study.result import StudyResult, load_result
from morl_mm.study.runner import run_study

__all__ = ["ConfigError", "StudyConfig", "load_config", "parse_config", "StudyResult", "load_result", "run_study"]
