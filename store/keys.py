"""Every Redis key txmon uses, named in one place, with the hash tags that decide its slot.

A Redis Cluster only runs a transaction, a WATCH or a Lua script on keys of one slot, and
the slot of a key is the hash of its ``{tag}``. So the layout follows what has to change
together:

- ``{prefix}{a:ACCOUNT}:state`` — one account's rule state. Account keys spread over
  every master (one tag per account); a state write is one SET, atomic for the account.
- ``{prefix}{ip:IP}:accounts`` — the accounts seen on one foreign IP (R6b), one tag per IP,
  so the Lua script that adds a batch's accounts and returns the whole set runs on one slot.
- ``{prefix}{g}:...`` — the officer keys: alert and hold records, the per-account hold
  pointer, queues, hold expiry, case status, police reports, the suspicious list, users,
  login throttling, sessions, the audit trail, the outbox, command records. The officer commands WATCH and
  MULTI across them (a hold, its account's pointer, the command record, the outbox), and
  the worker writes a batch's alert records and holds in one transaction, so they share
  one tag. They are few next to account states (alerts are a small fraction of events).

>>> k = Keys("txmon:")
>>> k.account_state("123"), k.ip_accounts("8.8.8.8"), k.alert("A-R1-ab")
('txmon:{a:123}:state', 'txmon:{ip:8.8.8.8}:accounts', 'txmon:{g}:alert:A-R1-ab')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "txmon:"

    # --- one slot per account / per foreign IP --------------------------
    def account_state(self, account: str) -> str:
        return f"{self.prefix}{{a:{account}}}:state"

    def ip_accounts(self, ip: str) -> str:
        return f"{self.prefix}{{ip:{ip}}}:accounts"

    @property
    def state_generation(self) -> str:
        """The state generation marker (``streams.readiness.StateMarker``); untagged, read alone."""
        return f"{self.prefix}state:generation"

    # --- the global officer slot ----------------------------------------
    @property
    def shared(self) -> str:
        """The start of every key in the global slot."""
        return f"{self.prefix}{{g}}:"

    def alert(self, alert_id: str) -> str:
        return f"{self.shared}alert:{alert_id}"

    @property
    def alerts_queue(self) -> str:
        return f"{self.shared}alerts:queue"

    def hold(self, hold_id: str) -> str:
        return f"{self.shared}hold:{hold_id}"

    def hold_alerts(self, hold_id: str) -> str:
        return f"{self.shared}hold:{hold_id}:alerts"

    def account_hold(self, account: str) -> str:
        """``"{hold_id}|{expires_ms}"`` while a hold is active on the account."""
        return f"{self.shared}hold:account:{account}"

    @property
    def holds_expiry(self) -> str:
        return f"{self.shared}holds:expiry"

    @property
    def case_status(self) -> str:
        return f"{self.shared}cases:status"

    def case_work(self, case_id: str) -> str:
        """A case's work state (claim, assignee, resolution): ``alerts.cases.workflow``."""
        return f"{self.shared}casework:{case_id}"

    def police_report(self, report_id: str) -> str:
        return f"{self.shared}police:report:{report_id}"

    @property
    def police_queue(self) -> str:
        return f"{self.shared}police:queue"

    @property
    def suspicious(self) -> str:
        return f"{self.shared}suspicious"

    @property
    def suspicious_info(self) -> str:
        return f"{self.shared}suspicious:info"

    @property
    def users(self) -> str:
        return f"{self.shared}users"

    @property
    def login_throttle(self) -> str:
        """The start of the console's login-throttle keys (``client:``, ``user:``, ``busy:``,
        ``global:``, ``devices:``), in the global slot: one check reads several at once."""
        return f"{self.shared}login:"

    def totp_step(self, user: str) -> str:
        """The last TOTP time step that logged ``user`` in (no replay)."""
        return f"{self.shared}login:totp:{user}"

    def session(self, token_hash: str) -> str:
        return f"{self.shared}session:{token_hash}"

    def user_sessions(self, user: str) -> str:
        return f"{self.shared}sessions:user:{user}"

    @property
    def outbox(self) -> str:
        return f"{self.shared}outbox"

    def outbox_claim(self, seq: str) -> str:
        return f"{self.shared}outbox:claim:{seq}"

    @property
    def audit_recent(self) -> str:
        return f"{self.shared}audit:recent"

    @property
    def changes(self) -> str:
        return f"{self.shared}changes"

    def command(self, command_id: str) -> str:
        return f"{self.shared}cmd:{command_id}"
