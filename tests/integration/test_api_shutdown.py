"""`handoff serve api` stops promptly while a dashboard holds a server-sent-event stream.

uvicorn waits for open requests at shutdown; a dashboard's ``/dashboard/events`` stream
lasts ``LIFETIME_S`` (20 s), so without a graceful-shutdown timeout the API would hang on
every open page. A real API process, a real stream, a real SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from services.api.dashboard.live import LIFETIME_S
from services.api.server import GRACEFUL_SHUTDOWN_S
from tests.processes import platform_env, spawn, wait_healthy

# the grace period, plus the time the process needs to stop its projector and exit
STOP_BOUND_S = GRACEFUL_SHUTDOWN_S + 5.0


def _hold_stream(url: str, opened: threading.Event, closed: threading.Event) -> None:
    """Read the stream until the server ends it (or the connection drops)."""
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(5.0, read=60.0)) as client,
            client.stream("GET", url) as response,
        ):
            assert response.status_code == 200
            for _ in response.iter_text():
                opened.set()
    except httpx.HTTPError:
        pass
    finally:
        closed.set()


def test_api_stops_within_bound_with_an_open_dashboard_stream(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    assert STOP_BOUND_S < LIFETIME_S  # else the stream's own end would pass the test
    env = platform_env(kafka_bootstrap, f"sqlite:///{tmp_path / 'handoff.db'}", tmp_path)
    api = spawn("api", f"http://127.0.0.1:{env['HANDOFF_API_PORT']}", env, tmp_path)
    try:
        wait_healthy(api)
        opened, closed = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=_hold_stream, args=(f"{api.url}/dashboard/events", opened, closed), daemon=True
        )
        reader.start()
        assert opened.wait(15), api.tail()
        time.sleep(1.0)  # the stream is past its first chunk and polling
        assert not closed.is_set()
        started = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        try:
            api.proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the API did not stop within {STOP_BOUND_S}s") from None
        took = time.monotonic() - started
        assert took < STOP_BOUND_S, f"the API took {took:.1f}s to stop"
        assert closed.wait(5)
    finally:
        if api.proc.poll() is None:
            api.proc.kill()
            api.proc.wait()
