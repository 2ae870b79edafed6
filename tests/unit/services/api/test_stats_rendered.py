"""``/v1/stats`` sends the bytes of its last answer while its figures are unchanged (issue 12):
they must be the very bytes FastAPI would have sent for the ``response_model``."""

from __future__ import annotations

from pydantic import TypeAdapter

from services.api.figures import FeedbackLatency
from services.api.payloads.stats import LatencyStats
from services.api.routes.stats import as_json
from services.core.stats import LatencySummary

SOME = LatencySummary(3, 60.0, 600.0, 600.0, 600.0)
NONE = LatencySummary(0, None, None, None, None)


def test_the_bytes_are_fastapis_and_rendered_once_per_figures_object() -> None:
    found = FeedbackLatency(SOME, {"billing-ui": SOME, "請求": SOME}, NONE, {}, SOME)
    built: list[LatencyStats] = []

    def page() -> LatencyStats:
        built.append(LatencyStats.of(found))
        return built[-1]

    first, again = as_json(found, page), as_json(found, page)
    fastapi = TypeAdapter(LatencyStats).dump_json(LatencyStats.of(found), by_alias=True)
    assert first.body == fastapi == again.body
    assert first.media_type == "application/json"
    assert len(built) == 1  # the same figures object: the bytes kept
    other = FeedbackLatency(NONE, {}, NONE, {}, NONE)
    assert as_json(other, lambda: LatencyStats.of(other)).body != fastapi
