"""The one place Kafka client options are built from the settings: every client txmon creates uses it.

    AIOKafkaProducer(**aiokafka_options(settings), acks="all")     # hot path, control, holds, CLI
    KafkaProducer(**kafka_python_options(settings), acks="all")   # load generator, tools, tests
    faust.App(id, **faust_options(settings), ...)                  # the worker's shell
    await check_kafka(settings)    # at start: a refused password or a foreign CA, said plainly

``check_kafka`` opens one connection the way the clients will (TLS handshake,
ApiVersions, SASL) and turns what goes wrong into a ``KafkaSetupError`` whose
message names the setting to check; the clients themselves would only report
"Unable to bootstrap" and retry.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.conn import create_conn

from streams.settings import SecurityProtocol, Settings

TLS_PROTOCOLS = (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
SASL_PROTOCOLS = (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
# TLS alerts a broker sends when it does not accept the client's certificate (or got none).
CLIENT_CERTIFICATE_ALERTS = (
    "BAD_CERTIFICATE",
    "CERTIFICATE_UNKNOWN",
    "CERTIFICATE_REQUIRED",
    "UNKNOWN_CA",
    "HANDSHAKE_FAILURE",
)


class KafkaSetupError(Exception):
    """Kafka cannot be reached or refuses us as configured; the message says which setting to check."""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL (None otherwise): the CA, the client certificate, hostname check."""
    s = settings
    if s.kafka_security_protocol not in TLS_PROTOCOLS:
        return None
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(s.kafka_ssl_cafile) if s.kafka_ssl_cafile else None
        )
    except (ssl.SSLError, OSError) as exc:
        msg = f"TXMON_KAFKA_SSL_CAFILE={s.kafka_ssl_cafile} is not a readable PEM CA file: {exc}"
        raise KafkaSetupError(msg) from None
    context.check_hostname = s.kafka_ssl_check_hostname
    if s.kafka_ssl_certfile is not None and s.kafka_ssl_keyfile is not None:
        password = s.kafka_ssl_key_password.get_secret_value() or None
        try:
            context.load_cert_chain(str(s.kafka_ssl_certfile), str(s.kafka_ssl_keyfile), password)
        except (ssl.SSLError, OSError) as exc:
            msg = (
                f"the client certificate cannot be loaded ({exc}): check TXMON_KAFKA_SSL_CERTFILE,"
                " TXMON_KAFKA_SSL_KEYFILE (PEM) and TXMON_KAFKA_SSL_KEY_PASSWORD"
            )
            raise KafkaSetupError(msg) from None
    return context


def _security(settings: Settings) -> dict[str, Any]:
    s = settings
    options: dict[str, Any] = {"security_protocol": s.kafka_security_protocol.value}
    if s.kafka_security_protocol in TLS_PROTOCOLS:
        options["ssl_context"] = ssl_context(s)
    if s.kafka_security_protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = s.kafka_sasl_mechanism.value
        options["sasl_plain_username"] = s.kafka_sasl_username
        options["sasl_plain_password"] = s.kafka_sasl_password.get_secret_value()
    return options


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security options of an aiokafka producer, consumer or admin client."""
    return {"bootstrap_servers": settings.kafka_servers(), **_security(settings)}


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """The same for kafka-python's ``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient``."""
    return {"bootstrap_servers": settings.kafka_servers(), **_security(settings)}


def faust_options(settings: Settings) -> dict[str, Any]:
    """``broker`` and ``broker_credentials`` of the Faust app (its consumers, producer and admin client)."""
    import faust  # deferred: the CLI's Kafka commands need not pay Faust's import time

    s = settings
    options: dict[str, Any] = {"broker": [f"kafka://{server}" for server in s.kafka_servers()]}
    context = ssl_context(s)
    if s.kafka_security_protocol in SASL_PROTOCOLS:
        options["broker_credentials"] = faust.SASLCredentials(
            username=s.kafka_sasl_username,
            password=s.kafka_sasl_password.get_secret_value(),
            ssl_context=context,  # None: SASL_PLAINTEXT; a context: SASL_SSL
            mechanism=s.kafka_sasl_mechanism.value,
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options


def _split(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        msg = f"TXMON_KAFKA_BOOTSTRAP: {server!r} is not host:port"
        raise KafkaSetupError(msg)
    return host.strip("[]"), int(port)


def explain(exc: BaseException, settings: Settings, server: str) -> str | None:
    """What ``exc`` (raised while connecting to ``server``) means in terms of the settings; None if unknown."""
    s = settings
    if isinstance(exc, aiokafka_errors.SaslAuthenticationFailed | aiokafka_errors.AuthenticationFailedError):
        return (
            f"Kafka at {server} refused SASL authentication for user {s.kafka_sasl_username!r}"
            f" ({s.kafka_sasl_mechanism.value}): check TXMON_KAFKA_SASL_USERNAME / TXMON_KAFKA_SASL_PASSWORD"
            " (and TXMON_KAFKA_SASL_MECHANISM)"
        )
    if isinstance(exc, aiokafka_errors.UnsupportedSaslMechanismError):
        return f"Kafka at {server} does not offer {s.kafka_sasl_mechanism.value}: check TXMON_KAFKA_SASL_MECHANISM"
    if isinstance(exc, aiokafka_errors.IllegalSaslStateError):
        return (
            f"Kafka at {server} does not expect SASL here: check TXMON_KAFKA_SECURITY_PROTOCOL"
            f"={s.kafka_security_protocol.value} against the broker's listener on that port"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
            return (
                f"TLS handshake with {server} failed: the broker's certificate does not name that host ({reason}):"
                " check TXMON_KAFKA_BOOTSTRAP (use the name in the certificate); TXMON_KAFKA_SSL_CHECK_HOSTNAME"
                "=false turns the check off"
            )
        ca = s.kafka_ssl_cafile or "the system's CA store (TXMON_KAFKA_SSL_CAFILE is not set)"
        return (
            f"TLS handshake with {server} failed: the broker's certificate is not signed by TXMON_KAFKA_SSL_CAFILE"
            f" ({ca}): {reason}"
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if "WRONG_VERSION_NUMBER" in str(reason).upper() or "record layer failure" in str(exc).lower():
            return (
                f"{server} does not speak TLS: check TXMON_KAFKA_SECURITY_PROTOCOL"
                f"={s.kafka_security_protocol.value} and the port in TXMON_KAFKA_BOOTSTRAP"
            )
        if any(alert in str(reason).upper() for alert in CLIENT_CERTIFICATE_ALERTS):
            given = "refused our client certificate" if s.kafka_ssl_certfile else "wants a client certificate"
            return (
                f"TLS handshake with {server} failed ({reason}): the broker {given}: check TXMON_KAFKA_SSL_CERTFILE"
                " / TXMON_KAFKA_SSL_KEYFILE (a certificate signed by a CA the broker trusts)"
            )
        return f"TLS handshake with {server} failed ({reason}): check the TXMON_KAFKA_SSL_* settings"
    return None


async def _probe(settings: Settings, server: str, timeout_s: float) -> None:
    host, port = _split(server)
    options = _security(settings)
    conn = await create_conn(
        host,
        port,
        client_id=f"{settings.app_id}-check",
        request_timeout_ms=int(timeout_s * 1000),
        ssl_context=options.get("ssl_context"),
        security_protocol=options["security_protocol"],
        sasl_mechanism=options.get("sasl_mechanism"),
        sasl_plain_username=options.get("sasl_plain_username"),
        sasl_plain_password=options.get("sasl_plain_password"),
    )
    conn.close()


async def check_kafka(settings: Settings, timeout_s: float = 10.0) -> None:
    """Connect to the first bootstrap server that answers as the clients will; ``KafkaSetupError`` if none.

    A security mistake (refused password, foreign CA, missing client certificate) is reported at once;
    servers that are only unreachable are tried in turn.
    """
    unreachable = []
    for server in settings.kafka_servers():
        try:
            await _probe(settings, server, timeout_s)
        except (aiokafka_errors.KafkaError, OSError, TimeoutError) as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, ssl.SSLError) else exc
            reason = explain(cause, settings, server)
            if reason is not None:
                raise KafkaSetupError(reason) from None
            unreachable.append(f"{server} ({exc!r})")
        else:
            return
    protocol = settings.kafka_security_protocol.value
    msg = (
        f"no Kafka broker answered: {'; '.join(unreachable)}: check TXMON_KAFKA_BOOTSTRAP and"
        f" TXMON_KAFKA_SECURITY_PROTOCOL={protocol} (a TLS or SASL listener drops a client that does not speak it)"
    )
    raise KafkaSetupError(msg)


def check_kafka_now(settings: Settings, timeout_s: float = 10.0) -> None:
    """``check_kafka`` from synchronous code, on a loop of its own (the caller's loop, if any, is untouched)."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(check_kafka(settings, timeout_s))
    finally:
        loop.close()
