"""All of txmon's settings, read once from ``TXMON_*`` environment variables.

Built at the entry point (``txmon ...``) and passed down; nothing else reads
the environment. ``.env.example`` lists every variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from store import RedisClient, connect


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TXMON_", frozen=True, extra="ignore")

    # --- where the bank's services are
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL for shared state (rediss:// for TLS; for a cluster, seed nodes comma-separated)",
    )
    redis_cluster: bool = Field(False, description="Talk to a Redis Cluster (also implied by a redis+cluster:// URL)")
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
    batch_max_records: int = Field(20_000, description="Most events fetched and evaluated as one batch")
    fetch_wait_ms: int = Field(50, description="Longest wait for a batch to fill")
    commit_interval_ms: int = Field(500, description="Offsets are committed at most this often (and on stop)")
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

    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]
