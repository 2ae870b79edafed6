"""Figures: the asking department, answered_by, per-origin latency, rollups (issues 16, 12).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # RESERVED: filled in by the change that needs it


def downgrade() -> None:
    pass
