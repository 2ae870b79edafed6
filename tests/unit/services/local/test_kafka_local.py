from __future__ import annotations

import base64
import uuid
from unittest import mock

from services.local import kafka
from services.local.kafka import new_cluster_id


def test_cluster_id_is_a_base64url_uuid() -> None:
    raw = base64.urlsafe_b64decode(new_cluster_id() + "==")
    assert uuid.UUID(bytes=raw)


def test_cluster_id_never_starts_with_a_dash() -> None:
    # 0xf8.. encodes to a leading '-' in base64url; the second draw does not.
    dash = uuid.UUID(bytes=b"\xf8" + b"\x00" * 15)
    plain = uuid.UUID(bytes=b"\x00" * 16)
    assert base64.urlsafe_b64encode(dash.bytes).startswith(b"-")
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dash, plain]):
        assert new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
