"""Task updates: re-evaluated routes and SLAs of a changed request (issue 16).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # RESERVED: filled in by the change that needs it


def downgrade() -> None:
    pass
