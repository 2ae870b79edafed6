"""The SLA timer: every second, the signals come due on this worker's clocks.

It walks the clocks table (only the partitions this worker owns), asks
``services.core.clock.on_timer`` what is due, and sends each task's signals
(``sla.at_risk`` / ``sla.breached``, the escalation, and an ``emitted`` for the
clock) acknowledged, one task at a time. It remembers what it sent until the
clock's table entry shows it; a closed, forgotten or restarted clock drops
that memory (``reset``). No Faust here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import topics
from services.core.clock import Emitted, Forget, Signal, next_due, on_timer
from services.router.batch import Send
from services.router.clock_table import decode_state, encode_message
from services.router.handlers.base import Names, Table
from services.router.metrics import RouterMetrics
from services.router.outbound import escalated_event, sla_event
from services.router.sender import Sender

FORGET = "forget"


@dataclass
class SlaTimer:
    clocks: Table
    names: Names
    sender: Sender
    metrics: RouterMetrics
    clock: Callable[[], datetime]
    reopen_window: timedelta  # how long a closed task's clock is kept
    # Other due work on each tick (capacity holds that expired): the sends it asks for.
    on_tick: Callable[[datetime], list[Send]] | None = None
    # What this worker sent and its clock table does not show yet, by task; dropped
    # with the task's clock, so it holds open tasks only.
    _signalled: dict[str, set[str]] = field(default_factory=dict)
    _due_cache: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)

    def signalled_tasks(self) -> int:
        """How many tasks this worker remembers signals for (open tasks only)."""
        return len(self._signalled)

    def reset(self, task_id: str) -> None:
        self._signalled.pop(task_id, None)

    async def signal_due_sla_events(self) -> None:
        """Send every SLA event come due on this worker's open clocks (each once)."""
        now = self.clock()
        if self.on_tick is not None and (cued := self.on_tick(now)):
            await self.sender.send_acked(cued)
        for task_id, stored in list(self.clocks.items()):
            due = self._next_due(task_id, stored, now)
            if due is None or due > now:
                continue
            for effect in on_timer(decode_state(stored), now, self.reopen_window):
                if isinstance(effect, Forget):
                    await self._forget(task_id)
                elif isinstance(effect, Signal):
                    await self._signal(task_id, effect, now)

    def _next_due(self, task_id: str, stored: str, now: datetime) -> datetime | None:
        """When the entry next needs the timer; parsed once per change, not every second."""
        cached = self._due_cache.get(task_id)
        if cached is not None and cached[0] == stored:
            return cached[1]
        if len(self._due_cache) > 2 * len(self.clocks) + 1000:  # forget deleted tasks
            self._due_cache = {k: v for k, v in self._due_cache.items() if k in self.clocks}
        due = next_due(decode_state(stored), now, self.reopen_window)
        self._due_cache[task_id] = (stored, due)
        return due

    async def _forget(self, task_id: str) -> None:
        """Drop the task's clock entry (through the topic, so the table's changelog has it)."""
        if FORGET in self._signalled.get(task_id, ()):
            return
        forget = encode_message(Forget(task_id))
        await self.sender.send_acked([(self.names.clocks, task_id.encode(), forget)])
        self._signalled.setdefault(task_id, set()).add(FORGET)

    async def _signal(self, task_id: str, signal: Signal, now: datetime) -> None:
        clock, due = signal.clock, signal.due
        if due.key in self._signalled.get(task_id, ()):
            return
        key = clock.key.encode("utf-8")
        sends: list[Send] = [(topics.SLA, key, sla_event(clock, due).to_bytes())]
        escalated = escalated_event(clock, due, at=now) if signal.escalates else None
        if escalated is not None and clock.escalate_to is not None:
            # to the API too: the escalation team's queue shows the task it now has
            sends.append((topics.ROUTED, key, escalated.to_bytes()))
            sends.append((topics.team_topic(clock.escalate_to), key, escalated.to_bytes()))
        emitted = encode_message(Emitted(task_id, due.key, clock.generation))
        sends.append((self.names.clocks, task_id.encode(), emitted))
        await self.sender.send_acked(sends)
        self._signalled.setdefault(task_id, set()).add(due.key)
        self.metrics.sla_events.labels(due.type).inc()
