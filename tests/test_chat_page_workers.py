"""The ``/chat`` page resumes from Redis after its worker is killed: a real Chromium, real
``python -m wslab serve`` workers, a real redis-server.

The page's worker dies (SIGKILL); while it is gone, bob, on another worker, says three lines; a
new worker starts on the dead one's port and reads the room's history from Redis as it starts.
The page, reconnecting all along, comes back there with its key and the last number it showed,
and shows the three lines once each, then "Caught up", then live lines.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from browser import page_url, screenshot  # noqa: E402
from deadlines import scaled  # noqa: E402
from test_chat_page import FAST, connected, expect_chat, system_lines  # noqa: E402
from test_chat_page_resume import log, shown_once  # noqa: E402
from wslab.reconnect import CHAT_POLICY  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def test_the_page_resumes_from_redis_on_a_worker_started_after_its_own_was_killed(
        workers, new_page):
    one, two = workers(), workers()
    page = new_page(page_url(f"http://127.0.0.1:{one.port}", name="pat", **FAST))
    connected(page)
    with connect(f"{two.ws_url}/ws/bob") as bob:
        bob.send(json.dumps({"message": "before"}))
        expect_chat(page, "Client bob", "before")
        os.killpg(one.process.pid, signal.SIGKILL)
        one.process.wait(5)
        expect(page.locator("#connectionStatus")).to_contain_text("Disconnected")
        for text in ("one", "two", "three"):
            bob.send(json.dumps({"message": text}))
        workers(port=one.port)  # the same address again, a new process
        # The page retries on its own schedule, its waits doubling while nothing listened (up
        # to the policy's cap): give it that long to come back.
        expect(page.locator("#connectionStatus")).to_have_text(
            "Connected", timeout=scaled(CHAT_POLICY.cap + 5) * 1000)
        connected(page)
        expect(system_lines(page, "Caught up: 3 missed lines")).to_have_count(1)
        bob.send(json.dumps({"message": "live again"}))
        shown_once(page, "live again")
        lines = log(page)  # while bob is still here: his leave would be the next line
        assert lines[lines.index("chat: before") + 1:] == [
            "system: Disconnected: the connection was lost without a close frame.",
            "system: Reconnected.", "chat: one", "chat: two", "chat: three",
            "system: Caught up: 3 missed lines", "chat: live again"], lines
        screenshot(page, "resumed-from-redis")
