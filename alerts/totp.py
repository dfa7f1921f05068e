"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 6 digits, 30 s steps): supervisors'
second factor, readable by any authenticator app from the ``otpauth://`` URI.

    secret = new_secret()
    code = totp(secret, time.time())
    step = verify(secret, code, time.time())   # the accepted time step, or None

A code is accepted one step either side of now (clock drift); the caller keeps
the last accepted step and refuses any code at or before it, so a code seen
once (shoulder-surfed, replayed from a proxy log) never logs in again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits, base32 without padding (RFC 4226's recommended length)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _key(secret: str) -> bytes:
    clean = secret.strip().replace(" ", "").upper()
    return base64.b32decode(clean + "=" * (-len(clean) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226: the dynamically truncated HMAC-SHA1 of the counter."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def totp(secret: str, now: float, digits: int = DIGITS) -> str:
    return hotp(_key(secret), int(now // STEP_S), digits)


def verify(secret: str, code: str, now: float, after_step: int = -1) -> int | None:
    """The time step ``code`` belongs to (within the drift, later than ``after_step``), or None."""
    code = code.strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    key, current = _key(secret), int(now // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(hotp(key, step), code):
            return step
    return None


def provisioning_uri(secret: str, user: str, issuer: str = "txmon") -> str:
    """What an authenticator app scans (as a QR code) or imports."""
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS, "period": STEP_S})
    return f"otpauth://totp/{quote(issuer)}:{quote(user)}?{query}"
