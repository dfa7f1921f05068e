"""The rules file: the default loads; every kind of mistake is a ConfigError naming the rule and the field."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from rules.config import DEFAULT_RULES_FILE, ConfigError, load_ruleset, load_ruleset_text
from rules.engine import RuleEngine
from rules.model import Action, Channel, Severity
from rules.registry import RULES
from rules.state import States
from streams.codec import decode_records


def test_default_rules_file_loads_with_the_documented_rules() -> None:
    rs = load_ruleset()
    assert rs.version and rs.home_countries == frozenset({"VN"}) and rs.hold_duration_s == 86_400
    ids = {r.definition.id for r in rs.rules}
    assert {"R2", "R3", "R6a"} <= ids <= set(RULES)
    r2, r3, r6a = rs.rule("R2"), rs.rule("R3"), rs.rule("R6a")
    assert r2 is not None and r3 is not None and r6a is not None
    assert (r2.spec.action, r2.params.window_s) == (Action.HOLD, 86_400)
    assert r3.spec.channels == [Channel.BANK] and r3.params.min_amount_vnd == 0
    assert (r6a.spec.action, r6a.params.large_amount_vnd, r6a.params.otp_window_s) == (Action.ALERT, 10_000_000, 86_400)
    assert r6a.spec.escalation is not None
    assert r6a.spec.escalation.action == Action.HOLD and r6a.spec.escalation.severity == Severity.HIGH
    assert r6a.spec.escalation.channels == [Channel.BANK, Channel.POLICE]


def test_every_rule_in_the_default_file_is_active() -> None:
    data = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    enabled = {rule_id for rule_id, spec in data["rules"].items() if spec.get("enabled", True)}
    assert {r.definition.id for r in load_ruleset().rules} == enabled


def _file(rule: str = "R2", **spec: object) -> str:
    base: dict[str, object] = {"action": "hold", "severity": "high", "channels": ["bank"]}
    base.update(spec)
    base = {k: v for k, v in base.items() if v is not None}  # None: leave the field out
    return yaml.safe_dump({"version": "t1", "rules": {rule: base}})


# (case, rule, file, words the message must contain besides the rule id)
BAD_FILES = [
    ("unknown rule id", "R99", _file("R99"), ["unknown rule id"]),
    ("unknown param", "R2", _file(params={"window_secs": 60}), ["params", "window_secs"]),
    ("param of the wrong type", "R2", _file(params={"window_s": "24h"}), ["params", "window_s", "int"]),
    ("param given as a bool", "R6a", _file("R6a", params={"large_amount_vnd": True}), ["large_amount_vnd"]),
    ("empty channels", "R3", _file("R3", channels=[]), ["channels"]),
    ("unknown channel", "R3", _file("R3", channels=["sms"]), ["channels", "sms"]),
    ("bad action", "R2", _file(action="block"), ["action", "block"]),
    ("bad severity", "R2", _file(severity="urgent"), ["severity", "urgent"]),
    ("bad escalation action", "R6a", _file("R6a", escalation={"action": "ban"}), ["escalation.action", "ban"]),
    ("unknown field in a rule", "R2", _file(actions="hold"), ["actions"]),
    ("missing action", "R2", _file(action=None), ["action"]),
]


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_ruleset_text(text)
    assert caught.value.retriable is False
    return caught.value


@pytest.mark.parametrize(("name", "rule", "text", "words"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_rule_is_a_config_error_naming_the_field(name: str, rule: str, text: str, words: list[str]) -> None:
    message = str(_error(text))
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


@pytest.mark.parametrize(
    ("name", "rule", "text"), [(name, rule, text) for name, rule, text, _ in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_rule_is_a_config_error_naming_the_rule(name: str, rule: str, text: str) -> None:
    assert rule in str(_error(text))


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("version: '1'\nrules: {R2: [unclosed", "YAML"),
        ("rules: {}", "version"),
        ("version: '1'\nrules: [R2]", "rules"),
        ("version: '1'\nhold_duration_s: 0\nrules: {}", "hold_duration_s"),
        ("version: '1'\nhome_countries: VN\nrules: {}", "home_countries"),
    ],
)
def test_bad_file_level_fields(text: str, word: str) -> None:
    with pytest.raises(ConfigError, match=word):
        load_ruleset_text(text)


def test_a_disabled_rule_is_not_active_and_never_hits() -> None:
    base = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    base["rules"]["R3"]["enabled"] = False
    rs = load_ruleset_text(yaml.safe_dump(base))
    assert rs.rule("R3") is None and rs.rule("R2") is not None

    class NoGeo:
        def countries(self, ips: object) -> np.ndarray:
            return np.full(len(ips), "", dtype="<U2")  # type: ignore[arg-type]

    raw = (
        b'{"type":"transfer","event_id":"e1","account_id":"A","ts":"2026-11-28T09:00:00+07:00",'
        b'"amount":1000,"dest_account":"B","dest_bank":"VCB","device_id":"never-seen"}'
    )
    batch = decode_records([raw], [b"A"]).batch
    # an unknown account: R3 (never-seen device) and R4 (no biometrics on file) both fire
    assert [h.rule_id for h in RuleEngine(load_ruleset(), NoGeo()).evaluate(batch, States.empty(1)).hits] == [
        "R3",
        "R4",
    ]
    assert [h.rule_id for h in RuleEngine(rs, NoGeo()).evaluate(batch, States.empty(1)).hits] == ["R4"]


def test_a_disabled_rule_is_still_validated() -> None:
    with pytest.raises(ConfigError, match="R2"):
        load_ruleset_text(_file(enabled=False, params={"window_s": "soon"}))


def test_home_countries_are_upper_cased_and_params_typed() -> None:
    rs = load_ruleset_text(
        "version: '7'\nhome_countries: [vn, la]\nrules:\n"
        "  R2: {action: hold, severity: critical, channels: [bank, police], params: {window_s: 600}}\n"
    )
    assert rs.home_countries == frozenset({"VN", "LA"}) and rs.version == "7"
    (r2,) = rs.rules
    assert r2.params.window_s == 600 and r2.spec.channels == [Channel.BANK, Channel.POLICE]
