"""The ``/chat`` page as the server serves it: ``static/chat.html`` with the package's data in it.

The page reconnects by the same rules as ``ChatClient`` (``wslab.reconnect``), describes close
codes in the same words (``wslab.close_codes``), and catches up after a reconnect with the same
query parameters and notices (``wslab.catch_up``). Rather than typing those names, numbers and
words a second time in JavaScript, the page carries empty ``<script type="application/json">``
blocks, which :func:`render_page` fills when the server starts: ``chat-policy`` with
:meth:`~wslab.reconnect.ReconnectPolicy.for_page`, ``chat-catch-up`` with
:func:`wslab.catch_up.for_page`. The page's script reads them before it connects. A final close
code added to ``wslab.close_codes`` is thus honoured by the page without editing it.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from wslab import catch_up
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy

__all__ = ["CATCH_UP_BLOCK", "POLICY_BLOCK", "page_source", "render_page"]

#: The page's empty data blocks; :func:`render_page` fills them.
POLICY_BLOCK = '<script type="application/json" id="chat-policy"></script>'
CATCH_UP_BLOCK = '<script type="application/json" id="chat-catch-up"></script>'

#: Characters that could end the ``<script>`` block or open a comment in it. In JSON they occur
#: only inside strings, where the ``\\u`` escape means the same character to ``JSON.parse``.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def page_source() -> str:
    """The page as written in ``static/chat.html``, with its data blocks still empty."""
    return resources.files("wslab").joinpath("static", "chat.html").read_text(encoding="utf-8")


def render_page(policy: ReconnectPolicy = CHAT_POLICY) -> str:
    """The page with ``policy`` (and the close-code table it includes) and the catch-up names
    and words filled in as JSON."""
    page = page_source()
    for block, data in ((POLICY_BLOCK, policy.for_page()), (CATCH_UP_BLOCK, catch_up.for_page())):
        page = _filled(page, block, data)
    return page


def _filled(page: str, block: str, data: Any) -> str:
    if page.count(block) != 1:
        raise ValueError(f"static/chat.html must hold {block} exactly once")
    text = json.dumps(data, ensure_ascii=False, allow_nan=False).translate(_HTML_SAFE)
    return page.replace(block, block.replace("></", f">{text}</"))
