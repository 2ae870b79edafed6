"""Router throughput against a raw Kafka passthrough, on the same broker, in one run.

    python -m bench.router_throughput [--events 5000] [--rate 0] [--json]

Starts its own Apache Kafka broker (free ports, temp dir) unless
``HANDOFF_KAFKA_BOOTSTRAP`` is set, and stops it at the end. Every phase is
measured the same way: the consumer side is started and has its partitions
first; then N realistic ``support.ticket`` events are produced (as fast as the
producer can, or paced with ``--rate``), each event's time set when it is
produced; the clock runs from the first produce to the broker timestamp of
the last output record. Latency per event: from its event time to its output
record's broker timestamp - in a burst that is mostly time spent queued
behind the events before it; ``--rate`` below capacity shows per-event latency.

Phases: ``baseline`` (aiokafka passthrough, same bytes out, acks=all, one ack
awaited per message like the router), ``pipelined`` (the same, acks awaited per
batch: the client's ceiling) and ``router`` (the real worker, ``handoff serve router``
as a process, two acknowledged sends per event). The ratio is router/baseline.
Never exits non-zero because of a number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from schemas import topics
from schemas.events import SUPPORT_TICKET, SupportTicket, envelope
from services.core.identity import account_from_email
from services.core.stats import summarize
from services.kafka_admin import ensure_handoff_topics, ensure_topics
from services.local.kafka import LocalKafka, free_port
from services.rules.rules_file import read_routing_rules
from services.traffic import sample_tickets

REPO_ROOT = Path(__file__).resolve().parents[1]
RULES_FILE = REPO_ROOT / "deploy" / "config" / "routing.yaml"
PARTITIONS = 4
# The baseline's own topics: bench-private, not part of handoff's contract.
BASELINE_IN = "bench.passthrough.in"
BASELINE_OUT = "bench.passthrough.out"
PIPELINED_IN = "bench.pipelined.in"
PIPELINED_OUT = "bench.pipelined.out"
PHASE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class PhaseResult:
    name: str
    events: int
    delivered: int
    seconds: float | None
    events_per_s: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    note: str = ""


Events = Sequence[tuple[str, bytes, SupportTicket]]


def make_events(count: int, run: str) -> Events:
    """Realistic tickets (Japanese and English, many accounts); the envelope is built at send."""
    made = []
    for n, sample in enumerate(sample_tickets(count, seed=11, prefix=f"BENCH-{run}")):
        ticket = SupportTicket.model_validate(sample.body)
        key = account_from_email(ticket.requester_email).encode("utf-8")
        made.append((f"bench-{run}-{n}", key, ticket))
    return made


def produce(bootstrap: str, topic: str, events: Events, rate: float = 0.0) -> float:
    """Send every event (time = now at send), wait for all acks; return the start time.

    ``rate`` > 0 paces the sends (events/s); 0 sends as fast as the producer can.
    """
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    try:
        started = time.time()
        for n, (event_id, key, ticket) in enumerate(events):
            if rate > 0 and (ahead := started + n / rate - time.time()) > 0:
                time.sleep(ahead)
            event = envelope(
                type_=SUPPORT_TICKET,
                source="bench",
                data=ticket,
                time=datetime.now(UTC),
                event_id=event_id,
            )
            producer.send(topic, key=key, value=event.to_bytes())
        producer.flush(timeout=120)
        return started
    finally:
        producer.close()


class Reader:
    """Reads a topic from its current end; collects (event id, raised at, broker time)."""

    def __init__(self, bootstrap: str, topic: str, parse: Callable[[bytes], tuple[str, float]]):
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = self.consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_end(*tps)
        for tp in tps:
            self.consumer.position(tp)
        self.parse = parse
        self.seen: dict[str, float] = {}

    def collect(self, wanted: set[str], timeout: float) -> dict[str, tuple[float, float]]:
        """event id -> (raised at, delivered at), until all wanted ids or the timeout."""
        found: dict[str, tuple[float, float]] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        event_id, raised = self.parse(record.value)
                    except (ValueError, KeyError, TypeError):
                        continue
                    if event_id in wanted and event_id not in found:
                        found[event_id] = (raised, record.timestamp / 1000.0)
        return found

    def close(self) -> None:
        self.consumer.close()


def parse_ticket(value: bytes) -> tuple[str, float]:
    doc = json.loads(value)
    return doc["id"], datetime.fromisoformat(doc["time"]).timestamp()


def parse_routed(value: bytes) -> tuple[str, float]:
    data = json.loads(value)["data"]
    # a grouped task's update names the event that joined it last
    event_id = (data.get("event_ids") or [data["source_event_id"]])[-1]
    return event_id, datetime.fromisoformat(data["raised_at"]).timestamp()


def measure(
    name: str,
    bootstrap: str,
    source: str,
    events: Events,
    reader: Reader,
    rate: float,
) -> PhaseResult:
    wanted = {event_id for event_id, _, _ in events}
    started = produce(bootstrap, source, events, rate)
    found = reader.collect(wanted, PHASE_TIMEOUT_S)
    if not found:
        return PhaseResult(name, len(events), 0, None, None, None, None, "nothing delivered")
    last = max(delivered for _, delivered in found.values())
    seconds = max(last - started, 1e-6)
    latency = summarize([max(d - r, 0.0) * 1000 for r, d in found.values()])
    note = "" if len(found) == len(wanted) else f"timed out: {len(found)}/{len(wanted)}"
    return PhaseResult(
        name=name,
        events=len(events),
        delivered=len(found),
        seconds=round(seconds, 3),
        events_per_s=round(len(found) / seconds, 1),
        latency_p50_ms=_round(latency.p50),
        latency_p99_ms=_round(latency.p99),
        note=note,
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=log.parent, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(
    what: str, probe: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: exited ({proc.returncode}); see {log}")
        if probe():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready in 120s; see {log}")


def passthrough_phase(
    name: str,
    bootstrap: str,
    source: str,
    target: str,
    events: Events,
    home: Path,
    pipelined: bool,
    rate: float,
) -> PhaseResult:
    ensure_topics(bootstrap, [source, target], PARTITIONS)
    log = home / f"{name}.log"
    cmd = [sys.executable, "-m", "bench.passthrough", bootstrap, source, target, str(len(events))]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with process(cmd + (["--pipelined"] if pipelined else []), env, log) as proc:
        wait_until(name, lambda: "ready" in log.read_text(), proc, log)
        reader = Reader(bootstrap, target, parse_ticket)
        try:
            return measure(name, bootstrap, source, events, reader, rate)
        finally:
            reader.close()


def router_phase(bootstrap: str, events: Events, home: Path, rate: float) -> PhaseResult:
    rules = read_routing_rules(RULES_FILE)
    ensure_handoff_topics(bootstrap, rules.teams, PARTITIONS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        HANDOFF_KAFKA_BOOTSTRAP=bootstrap,
        HANDOFF_TOPIC_PARTITIONS=str(PARTITIONS),
        HANDOFF_ROUTER_APP_ID=f"bench-router-{uuid.uuid4().hex[:8]}",
        HANDOFF_ROUTER_WEB_PORT=str(port),
        HANDOFF_ROUTER_DATA_DIR=str(home / "router-data"),
        HANDOFF_ROUTER_RULES_FILE=str(RULES_FILE),
        HANDOFF_ROUTER_LOG_LEVEL="warn",
    )
    log = home / "router.log"
    backlog = _backlog(bootstrap, topics.INGEST_SUPPORT)
    with process([sys.executable, "-m", "services.cli", "serve", "router"], env, log) as proc:
        wait_until("router", lambda: _ready(f"http://127.0.0.1:{port}/readyz"), proc, log)
        reader = Reader(bootstrap, topics.ROUTED, parse_routed)
        try:
            result = measure("router", bootstrap, topics.INGEST_SUPPORT, events, reader, rate)
        finally:
            reader.close()
    if backlog:
        note = f"{result.note}; " if result.note else ""
        result = PhaseResult(**{**asdict(result), "note": f"{note}{backlog} older events first"})
    return result


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _backlog(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        if not tps:
            return 0
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        return int(sum(ends[tp] - starts[tp] for tp in tps))
    finally:
        consumer.close()


@contextmanager
def broker(home: Path) -> Iterator[tuple[str, str]]:
    if external := os.environ.get("HANDOFF_KAFKA_BOOTSTRAP"):
        yield external, "external (HANDOFF_KAFKA_BOOTSTRAP)"
        return
    local = LocalKafka(home=home / "kafka", port=free_port(), controller_port=free_port())
    try:
        yield local.up(timeout=120), f"local Apache Kafka {local.version}, started for this run"
    finally:
        local.down()


def run(count: int, rate: float = 0.0) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        home = Path(tmp)
        with broker(home) as (bootstrap, kind):
            results = []
            for name, source, target, pipelined in (
                ("baseline", BASELINE_IN, BASELINE_OUT, False),
                ("pipelined", PIPELINED_IN, PIPELINED_OUT, True),
            ):
                events = make_events(count, f"{run_id}-{name}")
                results.append(
                    passthrough_phase(
                        name, bootstrap, source, target, events, home, pipelined, rate
                    )
                )
            router_events = make_events(count, f"{run_id}-router")
            results.append(router_phase(bootstrap, router_events, home, rate))
    by_name = {r.name: r for r in results}
    return {
        "events": count,
        "rate": rate or "burst",
        "broker": kind,
        "partitions": PARTITIONS,
        "phases": [asdict(r) for r in results],
        "ratio_router_to_baseline": _ratio(by_name["router"], by_name["baseline"]),
        "ratio_router_to_pipelined": _ratio(by_name["router"], by_name["pipelined"]),
    }


def _ratio(a: PhaseResult, b: PhaseResult) -> float | None:
    if not a.events_per_s or not b.events_per_s:
        return None
    return round(a.events_per_s / b.events_per_s, 3)


def render(report: dict[str, Any]) -> str:
    lines = [
        f"router throughput: {report['events']} support.ticket events per phase "
        f"(produced: {_rate(report['rate'])}), {report['partitions']} partitions, "
        f"{report['broker']}",
        "",
        f"{'phase':<10} {'delivered':>9} {'seconds':>8} {'events/s':>9} "
        f"{'p50 ms':>8} {'p99 ms':>8}  note",
    ]
    for p in report["phases"]:
        lines.append(
            f"{p['name']:<10} {p['delivered']:>9} {_fmt(p['seconds']):>8} "
            f"{_fmt(p['events_per_s']):>9} {_fmt(p['latency_p50_ms']):>8} "
            f"{_fmt(p['latency_p99_ms']):>8}  {p['note']}"
        )
    lines += [
        "",
        f"router / baseline (ack per message): {_fmt(report['ratio_router_to_baseline'])}",
        f"router / pipelined (acks per batch): {_fmt(report['ratio_router_to_pipelined'])}",
    ]
    return "\n".join(lines)


def _rate(rate: float | str) -> str:
    return "as fast as possible" if rate == "burst" else f"{rate:g}/s"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per phase (5000)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="produce at this many events/s (0: burst)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.rate < 0:
        parser.error("--rate must not be negative")
    try:
        report = run(args.events, args.rate)
    except (RuntimeError, OSError) as exc:  # LocalKafkaError is a RuntimeError
        print(f"bench could not run: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
