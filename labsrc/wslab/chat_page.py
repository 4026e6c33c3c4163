"""The ``/chat`` page as the server serves it: ``static/chat.html`` with the reconnect policy in it.

The page reconnects by the same rules as ``ChatClient`` (``wslab.reconnect``) and describes
close codes in the same words (``wslab.close_codes``). Rather than typing those numbers and
words a second time in JavaScript, the page carries an empty ``<script type="application/json"
id="chat-policy">`` block, which :func:`render_page` fills with
:meth:`~wslab.reconnect.ReconnectPolicy.for_page` when the server starts; the page's script
reads it before it connects. A final close code added to ``wslab.close_codes`` is thus
honoured by the page without editing it.
"""

from __future__ import annotations

import json
from importlib import resources

from wslab.reconnect import CHAT_POLICY, ReconnectPolicy

__all__ = ["POLICY_BLOCK", "page_source", "render_page"]

#: The page's empty data block; :func:`render_page` fills it.
POLICY_BLOCK = '<script type="application/json" id="chat-policy"></script>'

#: Characters that could end the ``<script>`` block or open a comment in it. In JSON they occur
#: only inside strings, where the ``\\u`` escape means the same character to ``JSON.parse``.
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def page_source() -> str:
    """The page as written in ``static/chat.html``, with its data block still empty."""
    return resources.files("wslab").joinpath("static", "chat.html").read_text(encoding="utf-8")


def render_page(policy: ReconnectPolicy = CHAT_POLICY) -> str:
    """The page with ``policy`` (and the close-code table it includes) filled in as JSON."""
    source = page_source()
    if source.count(POLICY_BLOCK) != 1:
        raise ValueError(f"static/chat.html must hold {POLICY_BLOCK} exactly once")
    data = json.dumps(policy.for_page(), ensure_ascii=False, allow_nan=False).translate(_HTML_SAFE)
    filled = POLICY_BLOCK.replace("></", f">{data}</")
    return source.replace(POLICY_BLOCK, filled)
