"""All of txmon's settings, read once from ``TXMON_*`` environment variables.

Built at the entry point (``txmon ...``) and passed down; nothing else reads
the environment. ``.env.example`` lists every variable. A ``TXMON_*`` variable
that is neither a setting nor one of the deploy scripts' own variables
(``DEPLOY_SCRIPT_VARIABLES``) is refused at start: a misspelt security setting
must not fall back silently to an unsecured default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store import RedisClient, connect

ENV_PREFIX = "TXMON_"

# Variables of deploy/services.sh, deploy/browser.sh and the test suite, not of txmon: they reach a
# worker's environment when a script or a test starts one, and are not settings. Add a script's new
# TXMON_* variable here (tests/unit/streams/test_settings.py finds the ones missing).
DEPLOY_SCRIPT_VARIABLES = frozenset(
    {
        "TXMON_RUN_DIR",  # services.sh: pid files, logs, data
        "TXMON_CACHE_DIR",  # services.sh: Kafka jars
        "TXMON_KAFKA_PORT",  # services.sh: plaintext listener
        "TXMON_KAFKA_CONTROLLER_PORT",  # services.sh: KRaft controller listener
        "TXMON_KAFKA_SASL_SSL_PORT",  # services.sh: optional SASL_SSL (SCRAM-SHA-512) listener
        "TXMON_KAFKA_MTLS_PORT",  # services.sh: optional SSL listener requiring client certificates
        "TXMON_KAFKA_TLS_DIR",  # services.sh: ca.pem and server.pem of the secured listeners
        "TXMON_KAFKA_SCRAM_USER",  # services.sh: SCRAM-SHA-512 user created at format time
        "TXMON_KAFKA_SCRAM_PASSWORD",  # services.sh: its password
        "TXMON_KAFKA_HEAP",  # services.sh: broker heap
        "TXMON_REDIS_PORT",  # services.sh: Redis
        "TXMON_POSTGRES_PORT",  # services.sh: PostgreSQL
        "TXMON_POSTGRES_DATA",  # services.sh: PostgreSQL data folder
        "TXMON_REDIS_CLUSTER_PORTS",  # redis-cluster.sh: the test cluster's node ports
        "TXMON_START_TIMEOUT",  # services.sh: how long `up` waits
        "TXMON_CHROMIUM",  # browser.sh: the browser of the console test
        "TXMON_HELM_VERSION",  # ops-tools.sh: the helm built from the Go module proxy
        "TXMON_E2E_SHOW_LOG",  # tests: show the console's log in the browser test
    }
)


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class SettingsError(ValueError):
    """The environment does not make a usable configuration; the message names the variable."""


def unknown_variables(environ: Mapping[str, str], known: set[str]) -> list[str]:
    """``TXMON_*`` names in ``environ`` that are neither settings nor deploy-script variables."""
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX)
        and name.upper() not in known
        and name.upper() not in DEPLOY_SCRIPT_VARIABLES
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # --- where the bank's services are
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL for shared state (rediss:// for TLS; for a cluster, seed nodes comma-separated)",
    )
    redis_cluster: bool = Field(False, description="Talk to a Redis Cluster (also implied by a redis+cluster:// URL)")
    kafka_security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, description="Kafka security protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        SaslMechanism.SCRAM_SHA_512, description="SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str = Field("", description="SASL user (SASL_PLAINTEXT, SASL_SSL)")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password (SASL_PLAINTEXT, SASL_SSL)")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA(s) that sign the brokers' certificates; default: the system's CAs"
    )
    kafka_ssl_certfile: Path | None = Field(None, description="PEM client certificate (chain) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of the client certificate")
    kafka_ssl_key_password: SecretStr = Field(
        SecretStr(""), description="Password of an encrypted TXMON_KAFKA_SSL_KEYFILE"
    )
    kafka_ssl_check_hostname: bool = Field(True, description="Verify that a broker's certificate names its host")
    bank_code: str = Field("DEMO", description="This bank's code, stamped on alerts and police reports")

    # --- topics
    input_topic: str = "txmon.events"
    alerts_topic: str = "txmon.alerts.bank"
    police_topic: str = "txmon.alerts.police"
    holds_topic: str = "txmon.holds"
    dead_letter_topic: str = "txmon.events.dlq"
    audit_topic: str = Field("txmon.audit", description="Append-only audit trail: officer actions, hold transitions")
    suspicious_topic: str = Field("txmon.suspicious", description="Shared suspicious-account list updates (SIMO-like)")
    freeze_requests_topic: str = Field("txmon.police.requests", description="Police freeze requests naming accounts")
    rules_topic: str = Field("txmon.rules", description="Control topic: new rules versions for every worker")
    topic_partitions: int = Field(8, description="Partitions when txmon creates its topics")
    topic_replication: int = Field(1, description="Replication factor when txmon creates its topics")

    # --- worker
    app_id: str = Field("txmon", description="Faust app id and consumer-group prefix")
    consumer_group: str = Field("txmon-monitor", description="Consumer group of the input-topic batch loop")
    batch_max_records: int = Field(20_000, gt=0, description="Most events fetched and evaluated as one batch")
    batch_min_records: int = Field(
        500,
        gt=0,
        description="Smallest batch limit: the limit doubles while fetches fill it (backlog), halves back to this",
    )
    fetch_wait_ms: int = Field(50, description="Longest wait for a batch to fill")
    commit_interval_ms: int = Field(
        500, description="Offsets are committed this often, also when no new batch arrives (and on stop)"
    )
    stop_timeout_s: float = Field(10.0, description="SIGTERM stops the batch loop within this time, even mid-retry")
    max_event_age_s: float = Field(
        7 * 86_400, gt=0, description="Events whose ts is more than this before their arrival are dead-lettered"
    )
    max_event_future_s: float = Field(
        300, ge=0, description="Events whose ts is more than this after their arrival are dead-lettered"
    )
    max_event_bytes: int = Field(
        64 * 1024, gt=0, description="Input records longer than this are dead-lettered as oversized, undecoded"
    )
    dead_letter_max_bytes: int = Field(
        1_000_000,
        gt=4096,
        description="Largest dead letter produced (value, key and headers); longer copies are truncated. "
        "Keep it below the producer's max_request_size and the dead-letter topic's max.message.bytes",
    )
    group_instance_id: str | None = Field(
        None,
        description="Static consumer-group membership of the batch loop (one distinct id per worker, "
        "e.g. the pod name): a restarted worker gets its partitions back at once, not after the session timeout",
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        description="Consumer-group session of the batch loop: a dead worker's partitions move after it",
    )
    state_prefix: str = Field("txmon:", description="Prefix of every Redis key txmon writes")
    rules_file: Path | None = Field(None, description="Rules YAML; default: rules/rules.yaml")
    geoip_mmdb: Path | None = Field(None, description="Optional MaxMind Country .mmdb instead of the embedded data")
    data_dir: Path = Field(Path(".run/faust"), description="Faust's local data folder (one subfolder per app id)")
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, description="Worker HTTP port: /metrics, /health")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text, or one JSON object per line (json); account numbers are masked"
    )

    # --- officer console
    console_host: str = "127.0.0.1"
    console_port: int = Field(8080, description="Officer console HTTP port")
    session_ttl_s: int = Field(8 * 3600, description="Console sessions expire after this many seconds")
    console_tls_cert: Path | None = Field(None, description="PEM certificate: the console serves HTTPS itself")
    console_tls_key: Path | None = Field(None, description="PEM private key of console_tls_cert")
    console_secure_cookies: bool | None = Field(
        None,
        description="Secure cookies + HSTS (console behind TLS). Unset: on, except in local development "
        "(console_host a loopback address and no console_tls_cert)",
    )
    console_hsts_max_age_s: int = Field(31_536_000, description="Strict-Transport-Security max-age when secure")
    console_trust_forwarded_for: bool = Field(
        False, description="Behind one reverse proxy: throttle logins by the address it appends to X-Forwarded-For"
    )
    console_supervisor_totp: bool = Field(True, description="Supervisors must log in with a TOTP code too")

    def console_is_local(self) -> bool:
        """Local development: the console listens on loopback only and serves no TLS itself."""
        loopback = self.console_host in ("127.0.0.1", "::1", "localhost") or self.console_host.startswith("127.")
        return loopback and self.console_tls_cert is None

    def console_secure(self) -> bool:
        return self.console_secure_cookies if self.console_secure_cookies is not None else not self.console_is_local()

    def redis(self) -> RedisClient:
        """A new Redis (or Redis Cluster) client for ``redis_url``."""
        return connect(self.redis_url.get_secret_value(), cluster=self.redis_cluster)

    # --- the case store (PostgreSQL) and its sink
    postgres_url: SecretStr = Field(
        SecretStr("postgresql://txmon@127.0.0.1:5432/txmon"), description="PostgreSQL URL of the case store"
    )
    postgres_sslmode: str = Field(
        "prefer", description="libpq sslmode: disable, prefer, require, verify-ca, verify-full"
    )
    postgres_sslrootcert: Path | None = Field(None, description="CA certificate the server's certificate must chain to")
    postgres_sslcert: Path | None = Field(None, description="Client certificate for mutual TLS")
    postgres_sslkey: Path | None = Field(None, description="Client certificate's private key")
    cases_group: str = Field("txmon-cases", description="Consumer group of the case-store sink (`txmon cases`)")
    case_claim_ttl_s: int = Field(900, description="A claim on a case lapses after this many seconds")
    case_reason_codes: str = Field(
        "customer_confirmed,customer_unreachable,known_device,known_payee,duplicate,mule_pattern,police_request,"
        "bulk_triage,other",
        description="Reason codes officers pick on every case action, comma-separated",
    )

    @field_validator(
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "rules_file",
        "geoip_mmdb",
        "postgres_sslrootcert",
        "postgres_sslcert",
        "postgres_sslkey",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `TXMON_KAFKA_SSL_CAFILE=` as in .env.example: not set

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Self:
        for problem in kafka_security_problems(self):
            raise SettingsError(problem)
        return self

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings of this process, or ``SettingsError`` naming each variable that is wrong or unknown."""
        known = {f"{ENV_PREFIX}{name}".upper() for name in cls.model_fields}
        unknown = unknown_variables(os.environ, known)
        if unknown:
            msg = (
                f"unknown setting(s) {', '.join(unknown)}: not a txmon setting (see .env.example)"
                " nor a deploy-script variable (DEPLOY_SCRIPT_VARIABLES in streams/settings.py)"
            )
            raise SettingsError(msg)
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]


def describe(exc: ValidationError) -> str:
    """One line per wrong value, named by its variable (the value itself is never shown: it may be a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            lines.append(f"{ENV_PREFIX}{str(error['loc'][0]).upper()}: {message}")
        else:
            lines.append(message)
    return "; ".join(lines)


def kafka_security_problems(s: Settings) -> list[str]:
    """What makes the Kafka security settings unusable, each naming the variable to set."""
    protocol = s.kafka_security_protocol
    sasl = protocol in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)
    tls = protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)
    problems = []
    if sasl and not s.kafka_sasl_username:
        problems.append(f"TXMON_KAFKA_SECURITY_PROTOCOL={protocol} needs TXMON_KAFKA_SASL_USERNAME")
    if sasl and not s.kafka_sasl_password.get_secret_value():
        problems.append(f"TXMON_KAFKA_SECURITY_PROTOCOL={protocol} needs TXMON_KAFKA_SASL_PASSWORD")
    if not sasl and (s.kafka_sasl_username or s.kafka_sasl_password.get_secret_value()):
        problems.append(
            f"TXMON_KAFKA_SASL_USERNAME/PASSWORD are set but TXMON_KAFKA_SECURITY_PROTOCOL={protocol} does not"
            " use SASL: set it to SASL_SSL (or SASL_PLAINTEXT), or unset them"
        )
    files = {
        "TXMON_KAFKA_SSL_CAFILE": s.kafka_ssl_cafile,
        "TXMON_KAFKA_SSL_CERTFILE": s.kafka_ssl_certfile,
        "TXMON_KAFKA_SSL_KEYFILE": s.kafka_ssl_keyfile,
    }
    if not tls:
        named = [name for name, path in files.items() if path is not None]
        if named:
            problems.append(
                f"{', '.join(named)} set but TXMON_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS:"
                " set it to SSL or SASL_SSL, or unset them"
            )
        return problems
    for name, path in files.items():
        if path is not None and not path.is_file():
            problems.append(f"{name}={path}: no such file")
    if (s.kafka_ssl_certfile is None) != (s.kafka_ssl_keyfile is None):
        problems.append("TXMON_KAFKA_SSL_CERTFILE and TXMON_KAFKA_SSL_KEYFILE go together (mutual TLS): set both")
    if s.kafka_ssl_key_password.get_secret_value() and s.kafka_ssl_keyfile is None:
        problems.append("TXMON_KAFKA_SSL_KEY_PASSWORD is set without TXMON_KAFKA_SSL_KEYFILE")
    return problems
