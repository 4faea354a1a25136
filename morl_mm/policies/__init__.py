"""One policy interface for everything that quotes (see base.py): classical rules, oracle tables, networks."""

from morl_mm.policies.base import Policy
from morl_mm.policies.classical import (
    AvellanedaStoikov,
    CarteaJaimungal,
    FixedSpread,
    GueantLehalleFernandezTapia,
    GueantLehalleFernandezTapiaExact,
    LinearSkew,
)
from morl_mm.policies.io import load_policy, save_policy
from morl_mm.policies.quoting import InActionMode, quote_to_action
from morl_mm.policies.table import TablePolicy

__all__ = [
    "Policy",
    "AvellanedaStoikov",
    "CarteaJaimungal",
    "FixedSpread",
    "GueantLehalleFernandezTapia",
    "GueantLehalleFernandezTapiaExact",
    "LinearSkew",
    "load_policy",
    "save_policy",
    "quote_to_action",
    "InActionMode",
    "TablePolicy",
]
