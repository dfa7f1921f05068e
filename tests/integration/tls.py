"""A throw-away certificate authority for the secured test broker, made with the openssl command.

``make_tls(dir)`` writes, all PEM: the test CA (``ca.pem``), the broker's key and certificate for
127.0.0.1/localhost in one file as Kafka's PEM keystore reads it (``server.pem``), a client
certificate and key signed by the same CA (``client.pem``, ``client.key``), and a second, foreign
CA that signed nothing of the broker's (``foreign-ca.pem``) with a client certificate of its own
(``foreign-client.pem``, ``foreign-client.key``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "2"
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # PKCS#8, unencrypted


@dataclass(frozen=True)
class TlsFiles:
    dir: Path
    ca: Path
    server: Path
    client_cert: Path
    client_key: Path
    foreign_ca: Path
    foreign_client_cert: Path
    foreign_client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", DAYS,
        "-subj", f"/CN=txmon test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d,
    )  # fmt: skip


def _signed(d: Path, ca: str, name: str, subject: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions + "\n")
    _openssl("req", "-new", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", DAYS, "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d,
    )  # fmt: skip


def make_tls(d: Path) -> TlsFiles:
    d.mkdir(parents=True, exist_ok=True)
    _ca(d, "ca")
    _ca(d, "foreign-ca")
    _signed(
        d, "ca", "broker", "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
    )  # fmt: skip
    _signed(d, "ca", "client", "/CN=txmon-worker", "extendedKeyUsage=clientAuth")
    _signed(d, "foreign-ca", "foreign-client", "/CN=intruder", "extendedKeyUsage=clientAuth")
    # Kafka's PEM keystore: the private key, then the certificate chain, in one file.
    (d / "server.pem").write_text((d / "broker.key").read_text() + (d / "broker.pem").read_text())
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return TlsFiles(
        d,
        d / "ca.pem",
        d / "server.pem",
        d / "client.pem",
        d / "client.key",
        d / "foreign-ca.pem",
        d / "foreign-client.pem",
        d / "foreign-client.key",
    )
