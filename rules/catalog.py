"""Finds the rule modules: every module of the ``rules`` package that defines ``RULE`` (a
``rules.registry.RuleDef``, registered when the module is imported). A new rule is its module
and its ``rules.yaml`` entry; nothing here lists it.
"""

from __future__ import annotations

import importlib
import pkgutil

import rules
from rules.registry import RuleDef

# The package's machinery (a rule module imports from these; ``engine`` imports ``config``,
# which imports this module): never a rule, so not imported here.
_NOT_RULES = frozenset(
    {"catalog", "columns", "config", "engine", "facts", "features", "geo", "ip_cluster", "model"}
    | {"registry", "state", "state_codec", "text", "window"}
)


def rule_modules() -> list[str]:
    """The names of the modules that define a rule, imported (so registered), in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(rules.__path__), key=lambda m: m.name):
        if info.name in _NOT_RULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rules.{info.name}")
        if isinstance(getattr(module, "RULE", None), RuleDef):
            found.append(info.name)
    return found


RULE_MODULES = rule_modules()
