"""The client options built from the settings, and what a refused connection is said to mean."""

from __future__ import annotations

import ssl

import faust
import pytest
from aiokafka import errors

from streams.kafka_client import (
    KafkaSetupError,
    aiokafka_options,
    check_kafka,
    explain,
    faust_options,
    kafka_python_options,
    ssl_context,
)
from streams.settings import Settings
from tests.integration.tls import TlsFiles, make_tls


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


def sasl_ssl(tls: TlsFiles, **extra: object) -> Settings:
    return Settings(
        kafka_bootstrap="b1:9094, b2:9094",
        kafka_security_protocol="SASL_SSL",  # type: ignore[arg-type]
        kafka_sasl_mechanism="SCRAM-SHA-256",  # type: ignore[arg-type]
        kafka_sasl_username="txmon",
        kafka_sasl_password="pw",  # type: ignore[arg-type]
        kafka_ssl_cafile=tls.ca,
        **extra,  # type: ignore[arg-type]
    )


def mtls(tls: TlsFiles, **extra: object) -> Settings:
    files = {"kafka_ssl_cafile": tls.ca, "kafka_ssl_certfile": tls.client_cert, "kafka_ssl_keyfile": tls.client_key}
    return Settings(kafka_security_protocol="SSL", **{**files, **extra})  # type: ignore[arg-type]


def test_plaintext_has_no_tls_and_no_sasl() -> None:
    options = aiokafka_options(Settings(kafka_bootstrap="a:1,b:2"))
    assert options == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT"}
    assert faust_options(Settings()) == {"broker": ["kafka://127.0.0.1:9092"]}


def test_sasl_ssl_options_for_every_client_library(tls: TlsFiles) -> None:
    s = sasl_ssl(tls)
    for options in (aiokafka_options(s), kafka_python_options(s)):
        assert options["bootstrap_servers"] == ["b1:9094", "b2:9094"]
        assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-256")
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("txmon", "pw")
        context = options["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    credentials = faust_options(s)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-256")
    assert (credentials.username, credentials.password) == ("txmon", "pw")


def test_sasl_plaintext_has_no_tls() -> None:
    s = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password="p")  # type: ignore[arg-type]
    assert "ssl_context" not in aiokafka_options(s)
    credentials = faust_options(s)["broker_credentials"]
    assert credentials.protocol.value == "SASL_PLAINTEXT" and credentials.ssl_context is None


def test_mutual_tls_loads_the_client_certificate(tls: TlsFiles) -> None:
    s = mtls(tls, kafka_ssl_check_hostname=False)
    options = aiokafka_options(s)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert options["ssl_context"].check_hostname is False
    credentials = faust_options(s)["broker_credentials"]
    assert isinstance(credentials, faust.SSLCredentials) and credentials.protocol.value == "SSL"


def test_a_client_key_that_does_not_load_names_the_settings(tls: TlsFiles) -> None:
    s = mtls(tls, kafka_ssl_keyfile=tls.foreign_client_key)  # not the certificate's key
    with pytest.raises(KafkaSetupError, match="TXMON_KAFKA_SSL_CERTFILE, TXMON_KAFKA_SSL_KEYFILE"):
        ssl_context(s)
    with pytest.raises(KafkaSetupError, match="not a readable PEM CA file"):
        ssl_context(mtls(tls, kafka_ssl_cafile=tls.client_key))


def test_refusals_are_explained_by_setting(tls: TlsFiles) -> None:
    s = sasl_ssl(tls)
    said = explain(errors.SaslAuthenticationFailed(), s, "b1:9094")
    assert said is not None and "refused SASL authentication for user 'txmon'" in said
    assert "TXMON_KAFKA_SASL_USERNAME / TXMON_KAFKA_SASL_PASSWORD" in said
    said = explain(errors.UnsupportedSaslMechanismError(), s, "b1:9094")
    assert said is not None and "TXMON_KAFKA_SASL_MECHANISM" in said
    foreign = ssl.SSLCertVerificationError(1, "certificate verify failed")
    foreign.verify_message = "unable to get local issuer certificate"
    said = explain(foreign, s, "b1:9094")
    assert said is not None and f"not signed by TXMON_KAFKA_SSL_CAFILE ({tls.ca})" in said
    wrong_host = ssl.SSLCertVerificationError(1, "certificate verify failed")
    wrong_host.verify_message = "Hostname mismatch, certificate is not valid for 'b1'."
    said = explain(wrong_host, s, "b1:9094")
    assert said is not None and "TXMON_KAFKA_BOOTSTRAP" in said and "TXMON_KAFKA_SSL_CHECK_HOSTNAME" in said
    assert explain(ConnectionRefusedError(111, "refused"), s, "b1:9094") is None


async def test_nothing_listening_names_bootstrap_and_protocol() -> None:
    with pytest.raises(KafkaSetupError, match="no Kafka broker answered.*TXMON_KAFKA_BOOTSTRAP"):
        await check_kafka(Settings(kafka_bootstrap="127.0.0.1:1"), timeout_s=2)
    with pytest.raises(KafkaSetupError, match="is not host:port"):
        await check_kafka(Settings(kafka_bootstrap="nohost"), timeout_s=2)
