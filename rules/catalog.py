"""Imports every rule module once so each registers itself in ``rules.registry.RULES``."""

from rules import (
    amount_gate,
    business_representative,
    crypto_counterparty,
    foreign_ip,
    new_device,
    no_biometrics,
    otp_change,
    suspicious_payee,
    takeover_drain,
)

__all__ = [
    "amount_gate",
    "business_representative",
    "crypto_counterparty",
    "foreign_ip",
    "new_device",
    "no_biometrics",
    "otp_change",
    "suspicious_payee",
    "takeover_drain",
]
