"""The console's password policy: long enough, not a common password, not the user's name.

A password is refused when it has fewer than ``MIN_LENGTH`` characters or fewer
than ``MIN_DISTINCT`` different ones (``aaaaaaaaaa``, ``abababab12``), is a run of
consecutive characters (``1234567890``, ``abcdefghij``), contains the user's
name, or is on the deny-list (``common_passwords.txt``) once lower-cased, with
trailing digits and symbols stripped (``Password2026!``) and common
letter-for-digit swaps undone (``P@ssw0rd``). Length beats composition rules
(NIST SP 800-63B §5.1.1.2): no "one upper, one digit" requirement.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
MIN_DISTINCT = 5
DENY_LIST = Path(__file__).with_name("common_passwords.txt")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "5": "s", "$": "s", "7": "t"})
_TAIL = re.compile(r"[^a-z]+$")
_SEPARATORS = re.compile(r"[\s._\-]+")


class PasswordRefused(ValueError):
    """The password breaks the policy; the message says which part."""


@cache
def deny_list() -> frozenset[str]:
    lines = DENY_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


def _forms(password: str) -> set[str]:
    low = password.lower()
    joined = _SEPARATORS.sub("", low)
    forms = {low, joined, _TAIL.sub("", low), _TAIL.sub("", joined)}
    return forms | {f.translate(_LEET) for f in forms} | {_TAIL.sub("", f.translate(_LEET)) for f in forms}


def _is_run(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {1, -1}


def check(password: str, user: str = "") -> None:
    """Raise ``PasswordRefused`` naming what is wrong; return when the password is acceptable."""
    if len(password) < MIN_LENGTH:
        msg = f"a password needs at least {MIN_LENGTH} characters"
        raise PasswordRefused(msg)
    if len(password) > MAX_LENGTH:
        msg = f"a password has at most {MAX_LENGTH} characters"
        raise PasswordRefused(msg)
    if len(set(password.lower())) < MIN_DISTINCT:
        msg = f"a password needs at least {MIN_DISTINCT} different characters"
        raise PasswordRefused(msg)
    if _is_run(password.lower()):
        msg = "a password cannot be a run of consecutive characters"
        raise PasswordRefused(msg)
    name = _SEPARATORS.sub("", user.lower())
    if len(name) >= 3 and any(name in form for form in _forms(password)):
        msg = "a password cannot contain the user's name"
        raise PasswordRefused(msg)
    if _forms(password) & deny_list():
        msg = "this password is too common; choose another (a few unrelated words work well)"
        raise PasswordRefused(msg)
