"""The ``/chat`` page as served: the reconnect policy, the close-code table and the catch-up
names and words filled in as data.

The page's behaviour with that data is tested in Chromium (``test_chat_page.py``); here, that the
server serves exactly the package's policy, and that no text in the table can end the block.
"""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from wslab import close_codes
from wslab import catch_up
from wslab.chat_page import CATCH_UP_BLOCK, POLICY_BLOCK, page_source, render_page
from wslab.close_codes import Close
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy

BLOCK = re.compile(r'<script type="application/json" id="chat-policy">(.*?)</script>', re.DOTALL)
CATCH_UP = re.compile(r'<script type="application/json" id="chat-catch-up">(.*?)</script>',
                      re.DOTALL)


def policy_in(page: str) -> dict:
    (data,) = BLOCK.findall(page)
    return json.loads(data)


def catch_up_in(page: str) -> dict:
    (data,) = CATCH_UP.findall(page)
    return json.loads(data)


def test_the_served_page_carries_the_package_s_policy(chat_server):
    with urllib.request.urlopen(f"{chat_server.url}/chat", timeout=5) as response:
        assert response.headers.get_content_type() == "text/html"
        page = response.read().decode("utf-8")
    assert policy_in(page) == CHAT_POLICY.for_page()
    assert catch_up_in(page) == catch_up.for_page()
    emptied = page.replace(BLOCK.search(page).group(1), "", 1)
    assert emptied.replace(CATCH_UP.search(page).group(1), "", 1) == page_source()


def test_the_page_as_written_has_one_empty_block_of_each():
    assert page_source().count(POLICY_BLOCK) == 1
    assert page_source().count(CATCH_UP_BLOCK) == 1
    assert policy_in(render_page(ReconnectPolicy(first=2.0, cap=9.0)))["cap"] == 9.0


def test_no_meaning_can_end_the_script_block(monkeypatch):
    meaning = "</script><script>window.pwned = 1</script><!-- & -->"
    monkeypatch.setitem(close_codes.CLOSES, 4403, Close(4403, meaning, final=True))
    page = render_page()
    assert page.count("</script>") == page_source().count("</script>")
    assert policy_in(page)["closes"]["meanings"]["4403"] == meaning


def test_a_page_without_its_block_is_refused(monkeypatch):
    monkeypatch.setattr("wslab.chat_page.page_source", lambda: "<html></html>")
    with pytest.raises(ValueError, match="chat-policy"):
        render_page()
    monkeypatch.setattr("wslab.chat_page.page_source", lambda: POLICY_BLOCK)
    with pytest.raises(ValueError, match="chat-catch-up"):
        render_page()
