"""One row of figures per scenario, and the table ``make chaos`` prints."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADER = ("scenario", "sent", "accepted", "routed", "lost", "dup", "DLQ", "recovery s", "notes")


@dataclass
class Row:
    """What a scenario did and what came of it; ``recovery`` holds one figure per fault."""

    scenario: str
    sent: int = 0
    accepted: int = 0
    routed: int = 0
    lost: int = 0
    duplicated: int = 0
    dlq: int = 0
    recovery: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per fault, a second figure when there is one (scenario 1: every partition routing again)
    resumed: list[float] = field(default_factory=list)
    # what did not recover or hold (a test asserts it is empty)
    problems: list[str] = field(default_factory=list)

    @property
    def worst_recovery(self) -> float:
        return max(self.recovery, default=0.0)

    def cells(self) -> tuple[str, ...]:
        return (
            self.scenario, str(self.sent), str(self.accepted), str(self.routed), str(self.lost),
            str(self.duplicated), str(self.dlq), recovery_cell(self.recovery),
            "; ".join([*self.notes, *(f"PROBLEM: {p}" for p in self.problems)]),
        )  # fmt: skip


def recovery_cell(figures: list[float]) -> str:
    """``max 9.8 (a, b, c)``: the worst first, then each fault's figure in order."""
    if not figures:
        return "-"
    each = ", ".join(f"{f:.1f}" for f in figures)
    return f"max {max(figures):.1f} ({each})" if len(figures) > 1 else f"{figures[0]:.1f}"


def table(rows: list[Row]) -> str:
    """A Markdown table (docs/chaos.md quotes it as printed)."""
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = [_line(lines[0], widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(_line(line, widths) for line in lines[1:])
    return "\n".join(out)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
