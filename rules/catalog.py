"""Imports every rule module once so each registers itself in ``rules.registry.RULES``."""

from rules import foreign_ip, new_device, otp_change

__all__ = ["foreign_ip", "new_device", "otp_change"]
