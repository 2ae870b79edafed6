"""The demo's sales and manufacturing traffic, sent the way the tools would send it.

Plants publish capacity and the CRM posts rush orders and outcomes to ingest's own
endpoints, signed with the ``handoff`` scheme (the demo gives each source a secret);
then the simulated planners and marketers acknowledge and answer part of their work,
and an admin links Acme's CRM account to its e-mail domain, so the dashboard's
Capacity, Sales × marketing and Account pages have something to show.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from services.ingest.signatures import sign_handoff
from services.traffic_sales import ACME_CRM_ID, SalesSample, SalesTraffic

PLANNING = "production-planning"
MARKETING = "marketing"
# Teams a person at sales' side of the house answers, not support's owners.
SALES_SIDE = frozenset({PLANNING, MARKETING})
PLANNER_ANSWER = "夜勤を追加して対応します。出荷日を確約しました。"
MARKETING_ANSWER = "Reviewed in the weekly lead-quality meeting; campaign scoring updated."


class StoryError(RuntimeError):
    """The sales or capacity traffic did not get through."""


def post_signed(client: httpx.Client, url: str, body: dict[str, Any], secret: str) -> int:
    """POST ``body`` as a tool holding ``secret`` would: X-Handoff-Signature over it."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-handoff-timestamp": stamp,
        "x-handoff-signature": sign_handoff(secret.encode(), stamp, raw),
    }
    response = client.post(url, content=raw, headers=headers)
    if response.status_code != 202:
        print(f"\n  {url}: {response.status_code} {response.text[:200]}")
    return response.status_code


def post_all(
    client: httpx.Client, ingest: str, samples: list[SalesSample], secrets: dict[str, str]
) -> int:
    """Post each sample with its source's secret (a few at once); the number ingest accepted."""

    def post(sample: SalesSample) -> bool:
        source = sample.endpoint.split("/")[3]  # /v1/sources/<source>/...
        return post_signed(client, ingest + sample.endpoint, sample.body, secrets[source]) == 202

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(post, samples))


def publish_capacity(
    client: httpx.Client, urls: dict[str, str], traffic: SalesTraffic, secrets: dict[str, str]
) -> int:
    """The plants' capacity, applied by the router before any rush order is checked."""
    accepted = post_all(client, urls["ingest"], traffic.capacity, secrets)
    if accepted != len(traffic.capacity):
        raise StoryError(f"ingest accepted {accepted} of {len(traffic.capacity)} capacity updates")
    _until(lambda: _capacity_applied(client, urls["router"]) >= accepted,
           "the router applied the capacity updates")  # fmt: skip
    print(f"capacity published: {accepted} lines (2 plants, 2 products)")
    return accepted


def _capacity_applied(client: httpx.Client, router: str) -> float:
    """``handoff_router_capacity_updates_total`` from the router's /metrics."""
    for line in client.get(f"{router}/metrics").text.splitlines():
        if line.startswith("handoff_router_capacity_updates_total"):
            return float(line.split()[-1])
    return 0.0


def _until(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise StoryError(f"not done within {timeout:.0f}s: {what}")
        time.sleep(0.3)


def post_notes(
    client: httpx.Client, ingest: str, traffic: SalesTraffic, secrets: dict[str, str]
) -> int:
    """Rush orders, then the CRM's lead changes and deal outcomes."""
    accepted = post_all(client, ingest, traffic.notes, secrets)
    print(f"sales notes: {accepted} accepted of {len(traffic.notes)} "
          f"({len(traffic.rush_orders)} rush orders, {len(traffic.outcomes)} lead changes "
          f"and deal outcomes)")  # fmt: skip
    return accepted


def link_acme(client: httpx.Client, api: str) -> None:
    """An admin tells handoff that Acme's CRM account and acme.com are one customer."""
    body = {"identifiers": [f"crm:{ACME_CRM_ID}", "acme.com"], "into": f"crm:{ACME_CRM_ID}"}
    response = client.post(f"{api}/v1/accounts/links", json=body)
    if response.status_code != 200:
        raise StoryError(f"linking Acme: {response.status_code} {response.text[:300]}")


def answer_sales_side(client: httpx.Client, api: str) -> dict[str, int]:
    """Planners and marketers acknowledge their work; they resolve part of it."""
    done = {"acknowledged": 0, "resolved": 0}
    for team, message in ((PLANNING, PLANNER_ANSWER), (MARKETING, MARKETING_ANSWER)):
        tasks = _open_tasks(client, api, team)
        for n, task in enumerate(tasks):
            _act(client, api, task["task_id"], "acknowledge", {})
            done["acknowledged"] += 1
            if n % 2 == 0:
                _act(client, api, task["task_id"], "resolve", {"message": message})
                done["resolved"] += 1
    return done


def _open_tasks(client: httpx.Client, api: str, team: str) -> list[dict[str, Any]]:
    response = client.get(f"{api}/v1/teams/{team}/tasks?state=open&limit=500")
    if response.status_code != 200:
        raise StoryError(f"GET {team}'s tasks: {response.status_code} {response.text[:300]}")
    tasks: list[dict[str, Any]] = response.json()["tasks"]
    return tasks


def _act(client: httpx.Client, api: str, task_id: str, action: str, body: dict[str, Any]) -> None:
    response = client.post(f"{api}/v1/tasks/{task_id}/{action}", json=body)
    if response.status_code != 200:
        raise StoryError(f"{action} {task_id}: {response.status_code} {response.text[:300]}")


def sales_figures(client: httpx.Client, api: str) -> dict[str, Any]:
    """What the API says of stories 2 and 3: holds, planning work, lead quality."""
    lines = client.get(f"{api}/v1/capacity/lines").json()["lines"]
    holds = client.get(f"{api}/v1/capacity/holds").json()["holds"]
    quality = client.get(f"{api}/v1/stats/lead-quality?by=campaign").json()
    return {"capacity_lines": lines, "holds": len(holds), "lead_quality": quality}


def print_sales_summary(summary: dict[str, Any]) -> None:
    """Stories 2 and 3 in a few lines: rush orders, holds, lead quality per campaign."""
    at_once = summary["feedback_latency"].get("router", {}).get("count", 0)
    print(
        f"rush orders: {summary['rush_orders']} asked, {at_once} answered at once by the "
        f"router, {summary['rush_orders'] - at_once} turned into planning tasks; "
        f"{summary['holds']} holds in force"
    )
    print(f"{pad('campaign', 24)}{'leads':>6}{pad('商談化率', 10, right=True)}"
          f"{'won':>5}{'lost':>5}  lost by reason")  # fmt: skip
    for group in summary["lead_quality"]["groups"]:
        rate = group["opportunity_rate"]
        shown = "-" if rate is None else f"{rate:.0%}"
        reasons = ", ".join(f"{k} {v}" for k, v in group["lost_by_reason"].items())
        print(f"{pad(group['group'], 24)}{group['leads']:>6}{shown:>10}{group['won']:>5}"
              f"{group['lost']:>5}  {reasons}")  # fmt: skip


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded to ``width`` terminal columns (East Asian wide characters take two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    space = " " * max(width - used, 1 if not right else 0)
    return space + text if right else text + space


def seconds(value: float | None) -> str:
    """A latency for the summary table: seconds, or hours once it is that long."""
    if value is None:
        return "-"
    return f"{value:.2f}s" if value < 3600 else f"{value / 3600:.1f}h"
