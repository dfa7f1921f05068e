"""R13 — the police ask the bank to freeze an account (phong tỏa tài khoản).

Source: Hanoi plan for CĐ 139/CĐ-TTg, III.1 (the city police warn, prevent and
block suspicious payment accounts) and III.8 (banks coordinate with the police to
freeze accounts and pause transactions in time). Signal: a request on the police
requests topic names an account; it is applied to that control input by
``alerts.freeze``, not judged on event batches, so there is no evaluator. The
rules file still decides whether it applies (``enabled``), what it places
(``action``: ``freeze``, ``hold`` or ``alert`` only), its severity and channels.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from rules.registry import RuleDef, register

# The longest a request may ask for, and the bound on the default: 90 days.
MAX_DURATION_H = 2160


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # How long a freeze lasts when the request names no duration: 30 days, a common
    # period for a police verification; an officer releases it earlier on the police's word.
    default_duration_h: Annotated[int, msgspec.Meta(ge=1, le=MAX_DURATION_H)] = 720


RULE = register(
    RuleDef(
        id="R13",
        name="police_freeze_request",
        params=Params,
        evaluate=None,
        source="Hanoi plan for CĐ 139/CĐ-TTg, III.1 and III.8",
    )
)
