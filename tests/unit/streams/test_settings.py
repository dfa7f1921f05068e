"""Settings: Kafka security combinations named by variable, unknown TXMON_* refused, every variable listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.settings import DEPLOY_SCRIPT_VARIABLES, ENV_PREFIX, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[3]
NAME = re.compile(r"\bTXMON_[A-Z0-9_]*[A-Z0-9]\b")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(__import__("os").environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    return monkeypatch


def refused(env: pytest.MonkeyPatch, **values: str) -> str:
    for name, value in values.items():
        env.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        Settings.from_environment()
    return str(err.value)


def test_plaintext_by_default(env: pytest.MonkeyPatch) -> None:
    s = Settings.from_environment()
    assert s.kafka_security_protocol == "PLAINTEXT" and s.kafka_ssl_check_hostname is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TXMON_KAFKA_SASL_PASSWORD": "p"},
            "needs TXMON_KAFKA_SASL_USERNAME",
        ),
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "TXMON_KAFKA_SASL_USERNAME": "u"},
            "needs TXMON_KAFKA_SASL_PASSWORD",
        ),
        ({"TXMON_KAFKA_SASL_USERNAME": "u", "TXMON_KAFKA_SASL_PASSWORD": "p"}, "PLAINTEXT does not use SASL"),
        (
            {"TXMON_KAFKA_SSL_CAFILE": "/etc/hostname"},
            "TXMON_KAFKA_SSL_CAFILE set but TXMON_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
        ),
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SSL", "TXMON_KAFKA_SSL_CAFILE": "/no/such/ca.pem"},
            "TXMON_KAFKA_SSL_CAFILE=/no/such/ca.pem: no such file",
        ),
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SSL", "TXMON_KAFKA_SSL_CERTFILE": "/etc/hostname"},
            "TXMON_KAFKA_SSL_CERTFILE and TXMON_KAFKA_SSL_KEYFILE go together",
        ),
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SSL", "TXMON_KAFKA_SSL_KEY_PASSWORD": "k"},
            "TXMON_KAFKA_SSL_KEY_PASSWORD is set without",
        ),
        ({"TXMON_KAFKA_SECURITY_PROTOCOL": "TLS"}, "TXMON_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL'"),
        (
            {"TXMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TXMON_KAFKA_SASL_MECHANISM": "GSSAPI"},
            "TXMON_KAFKA_SASL_MECHANISM: Input should be 'PLAIN'",
        ),
    ],
)
def test_an_unusable_combination_names_the_variable(
    env: pytest.MonkeyPatch, values: dict[str, str], message: str
) -> None:
    assert message in refused(env, **values)


def test_secrets_are_never_shown(env: pytest.MonkeyPatch) -> None:
    message = refused(env, TXMON_KAFKA_SASL_USERNAME="u", TXMON_KAFKA_SASL_PASSWORD="hunter2-secret")
    assert "hunter2-secret" not in message
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="hunter2-secret")  # type: ignore[arg-type]
    assert "hunter2-secret" not in repr(s)


def test_sasl_ssl_with_scram(env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TXMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TXMON_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "TXMON_KAFKA_SASL_USERNAME": "txmon",
        "TXMON_KAFKA_SASL_PASSWORD": "pw",
        "TXMON_KAFKA_SSL_CHECK_HOSTNAME": "false",
    }.items():
        env.setenv(name, value)
    s = Settings.from_environment()
    assert (s.kafka_sasl_mechanism, s.kafka_sasl_password.get_secret_value()) == ("SCRAM-SHA-256", "pw")
    assert s.kafka_ssl_check_hostname is False


def test_an_unknown_variable_is_an_error(env: pytest.MonkeyPatch) -> None:
    message = refused(env, TXMON_KAFKA_SASL_PASWORD="pw", txmon_bootstrap="x")
    assert "TXMON_KAFKA_SASL_PASWORD" in message and "txmon_bootstrap" in message


def test_deploy_script_variables_are_not_settings_and_are_accepted(env: pytest.MonkeyPatch) -> None:
    settings = {f"{ENV_PREFIX}{n}".upper() for n in Settings.model_fields}
    assert not DEPLOY_SCRIPT_VARIABLES & settings
    for name in DEPLOY_SCRIPT_VARIABLES:
        env.setenv(name, "1")
    Settings.from_environment()


def _named_in(paths: list[Path]) -> set[str]:
    return {m for p in paths for m in NAME.findall(p.read_text(encoding="utf-8", errors="replace"))}


def test_every_variable_the_scripts_and_tests_use_is_a_setting_or_a_deploy_script_variable() -> None:
    files = [*ROOT.glob("deploy/**/*.sh"), ROOT / "Makefile", *ROOT.glob("tests/**/*.py"), *ROOT.glob("loadtest/*.py")]
    files += [*ROOT.glob("deploy/**/*.yaml"), *ROOT.glob("deploy/**/*.service"), *ROOT.glob(".ci/*")]
    settings = {f"{ENV_PREFIX}{n}".upper() for n in Settings.model_fields}
    unknown = _named_in([f for f in files if f.is_file() and f != Path(__file__)]) - settings - DEPLOY_SCRIPT_VARIABLES
    assert unknown == set(), "add these to Settings or to DEPLOY_SCRIPT_VARIABLES in streams/settings.py"


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^#?\s*(TXMON_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert listed == {f"{ENV_PREFIX}{n}".upper() for n in Settings.model_fields}
