"""Imports every rule module once so each registers itself in ``rules.registry.RULES``."""

from rules import (
    amount_gate,
    business_representative,
    crypto_counterparty,
    foreign_ip,
    foreign_ip_cluster,
    mule_pass_through,
    new_device,
    no_biometrics,
    otp_change,
    police_freeze,
    suspicious_payee,
    tainted_inbound,
    takeover_drain,
    unusual_transfer,
)

__all__ = [
    "amount_gate",
    "business_representative",
    "crypto_counterparty",
    "foreign_ip",
    "foreign_ip_cluster",
    "mule_pass_through",
    "new_device",
    "no_biometrics",
    "otp_change",
    "police_freeze",
    "suspicious_payee",
    "tainted_inbound",
    "takeover_drain",
    "unusual_transfer",
]
