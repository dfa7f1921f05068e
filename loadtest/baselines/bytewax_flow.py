"""``baseline_bytewax``: R2, R3 and R6a as a bytewax dataflow (issue 14 point 5).

The bytewax Kafka source on the bench's local Kafka (from the beginning, stopping at the end of
every partition), a batch step that decodes the records and looks their countries up in
``rules.geo``, ``key_on`` the account and one ``stateful_map`` whose state is the account's
``three_rules.Account``; the per-event logic is ``three_rules``' (the loop baseline's). Its
alerts go to a sink that collects them. One worker, run as ``python -m bytewax.run`` runs one.

bytewax keeps input offsets in its own recovery store (none is configured here, as in its
quick-starts) and commits nothing to Kafka, so it is timed from the first batch decoded to the
dataflow's end.

Run alone: ``python -m loadtest.baselines.bytewax_flow --topic T --events N``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from loadtest.baselines.run import Progress, arguments, loopback_only, report
from loadtest.baselines.three_rules import Account, Alert, Event, ThreeRules, decode
from rules.config import load_ruleset
from rules.geo import GeoIP, load_geoip
from streams.settings import Settings


def dataflow(records: Callable[[Any], Any], rules: ThreeRules, geo: GeoIP, progress: Progress) -> Any:
    """The dataflow over the stream of Kafka messages that ``records(flow)`` adds to it."""
    import bytewax.operators as op  # the bench extra; imported only where it is used
    from bytewax.dataflow import Dataflow
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    class Collect(StatelessSinkPartition[Alert]):
        def write_batch(self, items: list[Alert]) -> None:
            progress.alerts.update(items)

    class AlertSink(DynamicSink[Alert]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> Collect:
            return Collect()

    def decoded(batch: list[Any]) -> Iterable[tuple[Event, str]]:
        if not progress.seen:
            progress.first = time.perf_counter()
        progress.seen += len(batch)
        events = [e for e in (decode(m.value) for m in batch) if e is not None]
        return zip(events, geo.countries([e.get("ip") for e in events]).tolist(), strict=True)

    def judge(acct: Account | None, item: tuple[Event, str]) -> tuple[Account, list[Alert]]:
        acct = acct or Account()
        return acct, rules.judge(acct, *item)

    flow = Dataflow("baseline_bytewax")
    events = op.flat_map_batch("decode_and_locate", records(flow), decoded)
    judged = op.stateful_map("three_rules", op.key_on("account", events, lambda item: item[0]["account_id"]), judge)
    op.output("alerts", op.flat_map("each_alert", judged, lambda kv: kv[1]), AlertSink())
    return flow


def consume(bootstrap: str, topic: str) -> dict[str, Any]:
    """Judge every record now on ``topic`` in a one-worker bytewax dataflow (the bench checks the count)."""
    import bytewax.operators as op
    from bytewax._bytewax import cli_main
    from bytewax.connectors.kafka import operators as kop

    def kafka(flow: Any) -> Any:
        out = kop.input("kafka", flow, brokers=[loopback_only(bootstrap)], topics=[topic], tail=False)
        op.inspect("errors", out.errs, lambda _step, err: kafka_error(err))
        return out.oks

    def kafka_error(err: Any) -> None:
        msg = f"bytewax Kafka source: {err.err}"
        raise RuntimeError(msg)

    progress = Progress()
    cli_main(dataflow(kafka, ThreeRules(load_ruleset()), load_geoip(), progress), workers_per_process=1)
    elapsed = time.perf_counter() - progress.first
    rate = progress.seen / elapsed if progress.seen and elapsed > 0 else 0.0
    return {"events_per_s": rate, "records": progress.seen, "alerts": progress.alerts}


def main(argv: list[str] | None = None) -> int:
    args = arguments(__doc__, argv, "baseline-bytewax")
    r = consume(Settings.from_environment().kafka_bootstrap, args.topic)
    report("baseline_bytewax", r, args.json, args.alerts_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
