"""`txmon state rebuild`: restore what Redis lost from what Kafka retains, emitting nothing.

    txmon state rebuild            # after every worker reports "state lost" on /ready

When Redis restarts empty (no persistence, a failed-over replica that never had the data, a
flush), every worker stops judging (``streams.readiness.StateMarker``) and commits what it had
fully handled. This command then:

1. re-reads the shared suspicious list from its compacted topic into Redis (R7, R9 need it);
2. replays the input topic, from the oldest retained record up to the consumer group's
   committed offsets, through the rule engine exactly as the worker judged it, with no output:
   the account states (with their applied offsets) and R6b's per-IP store are written to Redis;
3. restores the alert and hold records (deduplication, one active hold per account) from the
   bank-alerts and holds topics, each hold in its latest state;
4. writes a new state generation marker, last: the workers see it and judge on from where they
   stopped. Nothing is judged twice, nothing is skipped.

Only what Kafka still retains can be replayed: an account whose early events are past the input
topic's retention gets the state of its retained events (the command says how many were gone).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from alerts.holds import ALERT_TTL_S
from alerts.lifecycle import FROZEN_MS, OPEN
from alerts.model import Alert, HoldInstruction, encoder
from rules.config import load_ruleset
from rules.engine import RuleEngine
from rules.geo import load_geoip
from store import RedisClient
from store.keys import Keys
from streams.account_store import RedisAccountStore
from streams.backtest import InMemory
from streams.codec import EventTimeBounds
from streams.fetch import decode_input, sources_of
from streams.kafka_client import aiokafka_options
from streams.lists import SuspiciousList, decode_update
from streams.readiness import StateMarker, partitions_of
from streams.settings import Settings

log = logging.getLogger(__name__)
WRITE_CHUNK = 5_000


@dataclass
class RebuildReport:
    events: int = 0
    accounts: int = 0
    foreign_ips: int = 0
    list_updates: int = 0
    alerts: int = 0
    holds: int = 0
    active_holds: int = 0
    not_retained: int = 0  # records below the input topic's oldest retained offset
    generation: str = ""
    upto: dict[int, int] = field(default_factory=dict)  # input partition -> committed offset replayed to

    def summary(self) -> str:
        gone = f"; {self.not_retained:,} older records no longer retained" if self.not_retained else ""
        return (
            f"state rebuilt from {self.events:,} events: {self.accounts:,} account states, "
            f"{self.foreign_ips:,} foreign IPs, {self.list_updates:,} suspicious-list updates, "
            f"{self.alerts:,} alerts, {self.holds:,} holds ({self.active_holds:,} active){gone}; "
            f"input replayed up to the committed offsets {self.upto}; new generation {self.generation}"
        )


async def rebuild(settings: Settings, batch_records: int = 20_000) -> RebuildReport:
    s = settings
    report = RebuildReport()
    redis = s.redis()
    reader = AIOKafkaConsumer(
        **aiokafka_options(s), group_id=None, enable_auto_commit=False, client_id=f"{s.app_id}-rebuild"
    )
    await reader.start()
    try:
        report.list_updates = await _restore_list(reader, s, SuspiciousList(redis, s.state_prefix))
        members = await redis.smembers(Keys(s.state_prefix).suspicious)
        listed = frozenset(m.decode() if isinstance(m, bytes) else m for m in members)
        engine = RuleEngine(load_ruleset(s.rules_file), load_geoip(str(s.geoip_mmdb or "") or None))
        store = InMemory(engine, listed)
        upto = report.upto = await _committed(s)
        bounds = EventTimeBounds.of_seconds(s.max_event_age_s, s.max_event_future_s)
        async for records in _batches(reader, s.input_topic, upto, batch_records, report):
            decoded = decode_input(records, bounds, s.max_event_bytes)  # exactly as the worker decoded them
            sources = sources_of(records, decoded.rows)
            store.judge(decoded.batch, explain=False, sources=sources)  # decisions dropped: emitted before
            report.events += len(records)
        await _write_state(redis, s, store, report)
        await _restore_alerts_and_holds(redis, reader, s, report)
        report.generation = await StateMarker(redis, s.state_prefix).replace()  # last: workers go on
    finally:
        await reader.stop()
        await redis.aclose()
    return report


async def _committed(s: Settings) -> dict[int, int]:
    """The consumer group's committed offset per input partition (what the workers fully handled)."""
    group = AIOKafkaConsumer(**aiokafka_options(s), group_id=s.consumer_group, enable_auto_commit=False)
    await group.start()
    try:
        out = {}
        for p in await partitions_of(group, s.input_topic):
            committed = await group.committed(TopicPartition(s.input_topic, p))
            out[p] = committed or 0
        return out
    finally:
        await group.stop()


async def _batches(
    reader: AIOKafkaConsumer,
    topic: str,
    upto: dict[int, int] | None,
    size: int,
    report: RebuildReport | None = None,
) -> AsyncIterator[list[ConsumerRecord]]:
    """Every retained record of ``topic`` in batches, each partition in order, up to ``upto``
    (partition -> offset, exclusive; None: the end offsets now)."""
    tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
    if not tps:
        return
    reader.assign(tps)
    await reader.seek_to_beginning(*tps)
    begin = await reader.beginning_offsets(tps)
    end = await reader.end_offsets(tps)
    stop = {tp: min(end[tp], upto.get(tp.partition, 0)) if upto is not None else end[tp] for tp in tps}
    if report is not None:
        report.not_retained += sum(min(begin[tp], stop[tp]) for tp in tps)
    pending = {tp for tp in tps if begin[tp] < stop[tp]}
    while pending:
        fetched = await reader.getmany(*pending, timeout_ms=1000, max_records=size)
        out: list[ConsumerRecord] = []
        for tp, records in fetched.items():
            out += [r for r in records if r.offset < stop[tp]]
            if records and records[-1].offset + 1 >= stop[tp]:
                pending.discard(tp)
        for tp in list(pending):
            if await reader.position(tp) >= stop[tp]:
                pending.discard(tp)
        if out:
            yield out


async def _restore_list(reader: AIOKafkaConsumer, s: Settings, suspicious: SuspiciousList) -> int:
    n = 0
    async for records in _batches(reader, s.suspicious_topic, None, 10_000):
        updates = []
        for r in records:
            try:
                updates.append(decode_update(r.value or b""))
            except msgspec.DecodeError:
                log.warning("ignoring an invalid suspicious-list update at offset %d", r.offset)
        await suspicious.apply(updates)
        n += len(updates)
    return n


async def _write_state(redis: RedisClient, s: Settings, store: InMemory, report: RebuildReport) -> None:
    target = RedisAccountStore(redis, s.state_prefix)
    accounts = store.store.accounts()
    for i in range(0, len(accounts), WRITE_CHUNK):
        chunk = accounts[i : i + WRITE_CHUNK]
        await target.save(chunk, store.store.load_now(chunk))
    await target.merge_ip(store.ip_accounts, store.engine.ip_window_ms() or 0)
    report.accounts, report.foreign_ips = len(accounts), len(store.ip_accounts)


async def _restore_alerts_and_holds(
    redis: RedisClient, reader: AIOKafkaConsumer, s: Settings, report: RebuildReport
) -> None:
    """Alert records (deduplication, the officers' queue) and every hold in its latest state."""
    k = Keys(s.state_prefix)
    alert_decoder, hold_decoder = msgspec.json.Decoder(Alert), msgspec.json.Decoder(HoldInstruction)
    attached: dict[str, set[str]] = {}
    async for records in _batches(reader, s.alerts_topic, None, 10_000):
        pipe = redis.pipeline(transaction=False)
        for r in records:
            alert = alert_decoder.decode(r.value or b"")
            pipe.set(k.alert(alert.alert_id), r.value or b"", ex=ALERT_TTL_S, nx=True)
            pipe.zadd(k.alerts_queue, {alert.alert_id: datetime.fromisoformat(alert.detected_at).timestamp()})
            if alert.hold_id is not None:
                attached.setdefault(alert.hold_id, set()).add(alert.alert_id)
            report.alerts += 1
        await pipe.execute()
    latest: dict[str, HoldInstruction] = {}
    async for records in _batches(reader, s.holds_topic, None, 10_000):
        for r in records:  # one partition per account: in order per hold
            hold = hold_decoder.decode(r.value or b"")
            latest[hold.hold_id] = hold
    pipe = redis.pipeline(transaction=False)
    for hold in latest.values():
        pipe.set(k.hold(hold.hold_id), encoder.encode(hold))
        members = attached.get(hold.hold_id, set()) | set(hold.alert_ids)
        if members:
            pipe.sadd(k.hold_alerts(hold.hold_id), *sorted(members))
        expires_ms = int(datetime.fromisoformat(hold.expires_at).timestamp() * 1000)
        if hold.status in OPEN:
            pipe.set(k.account_hold(hold.account_id), f"{hold.hold_id}|{expires_ms}")
            pipe.zadd(k.holds_expiry, {hold.hold_id: expires_ms / 1000})
            report.active_holds += 1
        elif hold.status == "confirmed":
            pipe.set(k.account_hold(hold.account_id), f"{hold.hold_id}|{FROZEN_MS}")
    await pipe.execute()
    report.holds = len(latest)


def main(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = asyncio.run(rebuild(settings))
    print(report.summary())
    return 0
