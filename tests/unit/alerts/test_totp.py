"""TOTP against RFC 6238's own test vectors, and the drift and replay rules."""

from __future__ import annotations

import base64

import pytest

from alerts.totp import new_secret, provisioning_uri, totp, verify

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B, SHA-1


@pytest.mark.parametrize(
    ("t", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc_6238_vectors(t: int, code: str) -> None:
    assert totp(RFC_SECRET, t, digits=8) == code


def test_a_code_is_accepted_within_one_step_and_never_twice() -> None:
    secret, now = new_secret(), 1_800_000_000.0
    code = totp(secret, now)
    step = verify(secret, code, now)
    assert step == int(now // 30)
    assert verify(secret, code, now + 30) == step  # a slow typist, the next step
    assert verify(secret, code, now + 61) is None  # too old
    assert verify(secret, code, now, after_step=step) is None  # replayed
    assert verify(secret, totp(secret, now + 30), now, after_step=step) == step + 1
    wrong = str((int(code) + 1) % 1_000_000).zfill(6)
    assert verify(secret, wrong, now) is None
    assert verify(secret, "12345", now) is None and verify(secret, "abcdef", now) is None


def test_the_provisioning_uri_names_the_user_and_the_secret() -> None:
    uri = provisioning_uri("JBSWY3DPEHPK3PXP", "minh")
    assert uri.startswith("otpauth://totp/txmon:minh?") and "secret=JBSWY3DPEHPK3PXP" in uri
