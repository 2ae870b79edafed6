"""The baseline: a raw aiokafka passthrough, no logic, the router's delivery guarantee.

``python -m bench.passthrough BOOTSTRAP SOURCE TARGET COUNT`` consumes COUNT
messages from SOURCE and produces the same key and value bytes to TARGET with
acks=all, waiting for each message's ack before taking the next (as the router
waits for its sends before acknowledging an event), committing offsets after
the work. ``--pipelined`` instead sends without waiting and waits for the acks
in batches: the ceiling of what the broker and client can do.

Prints ``ready`` once it has its partitions, ``done`` after COUNT messages.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

COMMIT_EVERY = 1000


async def passthrough(
    bootstrap: str, source: str, target: str, count: int, pipelined: bool
) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-passthrough-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await consumer.start()
    try:
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)  # resolve "latest" now, before the producer starts
        print("ready", flush=True)
        copied = 0
        pending: list[asyncio.Future[object]] = []
        while copied < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=COMMIT_EVERY)
            for messages in batches.values():
                for message in messages:
                    if pipelined:
                        pending.append(await producer.send(target, message.value, key=message.key))
                    else:
                        await producer.send_and_wait(target, message.value, key=message.key)
                    copied += 1
            if pending:
                await asyncio.gather(*pending)
                pending.clear()
            if batches:
                await consumer.commit()
        print("done", flush=True)
    finally:
        await consumer.stop()
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap")
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("count", type=int)
    parser.add_argument("--pipelined", action="store_true")
    args = parser.parse_args(argv)
    asyncio.run(passthrough(args.bootstrap, args.source, args.target, args.count, args.pipelined))
    return 0


if __name__ == "__main__":
    sys.exit(main())
