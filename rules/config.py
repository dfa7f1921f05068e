"""Rule configuration: one versioned YAML file, validated against each rule's typed parameters.

>>> rs = load_ruleset_text("version: '1'\\nrules:\\n  R2: {action: hold, severity: high, channels: [bank]}")
>>> [r.definition.id for r in rs.rules]
['R2']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

import rules.catalog  # noqa: F401  (registers every rule module)
from rules.columns import CHANNEL_CODE
from rules.model import Action, Channel, Severity
from rules.registry import RULES, RuleDef

DEFAULT_RULES_FILE = Path(__file__).with_name("rules.yaml")
# The electronic channels a customer reaches with a phone or a browser, which carry a device id.
DEVICE_CHANNELS = ("mobile", "internet", "none")


class ConfigError(ValueError):
    """A rules file that cannot be used; the message names the rule and the field."""

    retriable = False


class Escalation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    action: Action = Action.HOLD
    severity: Severity = Severity.HIGH
    channels: list[Channel] = msgspec.field(default_factory=lambda: [Channel.BANK])


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    action: Action
    severity: Severity
    channels: list[Channel]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    escalation: Escalation | None = None


class RulesFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    version: str
    home_countries: list[str] = msgspec.field(default_factory=lambda: ["VN"])
    hold_duration_s: int = 86_400
    # Device trust (R3, R6a, R12): a login or transfer on one of these channels that names no
    # device_id counts as an unknown device; "none" stands for an event that names no channel.
    device_id_required_on: list[str] = msgspec.field(default_factory=lambda: list(DEVICE_CHANNELS))
    # Checked rule by rule below, so that every error names its rule.
    rules: dict[str, dict[str, Any]]


def channel_codes(names: list[str], where: str, *, allow_none: bool = False) -> frozenset[int]:
    """``rules.columns.CHANNEL_CODE`` codes of channel names (-1 for "none" where allowed)."""
    known = {**CHANNEL_CODE, **({"none": -1} if allow_none else {})}
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"{where}: unknown channel {unknown[0]!r} (known: {', '.join(known)})"
        raise ConfigError(msg)
    return frozenset(known[n] for n in names)


@dataclass(frozen=True, slots=True)
class ActiveRule:
    definition: RuleDef
    spec: RuleSpec
    params: Any


@dataclass(frozen=True, slots=True)
class Ruleset:
    version: str
    home_countries: frozenset[str]
    hold_duration_s: int
    rules: tuple[ActiveRule, ...]
    # Channel codes on which a missing device id is an unknown device (-1: no channel named).
    device_id_required_on: frozenset[int] = frozenset(CHANNEL_CODE[c] if c != "none" else -1 for c in DEVICE_CHANNELS)

    def rule(self, rule_id: str) -> ActiveRule | None:
        return next((r for r in self.rules if r.definition.id == rule_id), None)


def parse_ruleset(data: object) -> Ruleset:
    """Validate decoded YAML/JSON; raise ``ConfigError`` naming the rule and field."""
    try:
        spec = msgspec.convert(data, RulesFile)
    except msgspec.ValidationError as exc:
        msg = f"rules file: {exc}"
        raise ConfigError(msg) from exc
    if spec.hold_duration_s <= 0:
        msg = "rules file: hold_duration_s must be positive"
        raise ConfigError(msg)
    active = []
    for rule_id, raw_spec in spec.rules.items():
        definition = RULES.get(rule_id)
        if definition is None:
            msg = f"rule {rule_id}: unknown rule id (known: {', '.join(sorted(RULES))})"
            raise ConfigError(msg)
        try:
            rule_spec = msgspec.convert(raw_spec, RuleSpec)
        except msgspec.ValidationError as exc:
            msg = f"rule {rule_id}: {exc}"
            raise ConfigError(msg) from exc
        try:
            params = msgspec.convert(rule_spec.params, definition.params)
        except msgspec.ValidationError as exc:
            msg = f"rule {rule_id}: params: {exc}"
            raise ConfigError(msg) from exc
        if not rule_spec.channels:
            msg = f"rule {rule_id}: channels must name at least one of bank, police"
            raise ConfigError(msg)
        if rule_spec.enabled:
            active.append(ActiveRule(definition, rule_spec, params))
    return Ruleset(
        version=spec.version,
        home_countries=frozenset(c.upper() for c in spec.home_countries),
        hold_duration_s=spec.hold_duration_s,
        rules=tuple(active),
        device_id_required_on=channel_codes(spec.device_id_required_on, "device_id_required_on", allow_none=True),
    )


def load_ruleset_text(text: str) -> Ruleset:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"rules file is not valid YAML: {exc}"
        raise ConfigError(msg) from exc
    return parse_ruleset(data)


def load_ruleset(path: Path | str | None = None) -> Ruleset:
    return load_ruleset_text(Path(path or DEFAULT_RULES_FILE).read_text(encoding="utf-8"))
