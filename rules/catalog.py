"""Imports every rule module once so each registers itself in ``rules.registry.RULES``."""

from rules import (
    amount_gate,
    crypto_counterparty,
    foreign_ip,
    new_device,
    otp_change,
    suspicious_payee,
    takeover_drain,
)

__all__ = [
    "amount_gate",
    "crypto_counterparty",
    "foreign_ip",
    "new_device",
    "otp_change",
    "suspicious_payee",
    "takeover_drain",
]
