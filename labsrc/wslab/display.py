"""Show web pages inside a notebook: the chat page of a running server, and small HTML demos.

::

    from wslab.display import chat_frame
    chat_frame(server, name="alice")     # the server's /chat page in a frame, chatting as alice

**Where the frame points.** The page is loaded by the *browser*, and the browser may not run
where the kernel runs:

- JupyterLab on your own computer: the browser and the kernel share ``127.0.0.1``, so the
  frame loads ``http://127.0.0.1:{port}/chat`` directly.
- JupyterHub or Binder: the kernel runs on a server far away, and ``127.0.0.1`` in your
  browser is your own laptop, where nothing listens. There the frame goes through
  `jupyter-server-proxy <https://jupyter-server-proxy.readthedocs.io>`_, which JupyterLab's
  own server runs: ``{prefix}proxy/{port}/chat``, where ``prefix`` is the hub's
  ``JUPYTERHUB_SERVICE_PREFIX`` (such as ``/user/alice/``). The proxy passes HTTP and
  WebSocket traffic on to ``localhost:{port}`` on the server, and only for a browser that is
  logged in to that JupyterLab (its login cookie), so nobody else can use your server.

The rule: the proxy when ``JUPYTERHUB_SERVICE_PREFIX`` is set and ``jupyter_server_proxy`` can
be imported, the direct address otherwise. ``proxy=True`` forces the proxy (for a JupyterLab
you started yourself on a remote machine: the prefix is then ``/``, or the hub's if set), and
``proxy=False`` forces the direct address. The chat page finds its socket relative to its own
address, so it works under either.

Never put JupyterLab's token into a page's address: the chat page reads ``?token=`` as the
chat's join token and would send it on to the chat server. Inside JupyterLab the frame needs
no token, because the browser is logged in already.

:func:`html_frame` shows a piece of HTML in a sandboxed frame of its own: its CSS cannot
restyle JupyterLab and its script cannot reach JupyterLab. :data:`LECTURE_PAGE` is the
lecture's chat page, with its ``innerHTML`` flaw, for lesson 03's demonstration, and
:func:`lecture_page` is the same page with other JavaScript to fill a chat line (lesson 03's
exercise fixes :data:`LECTURE_CHAT_LINE`).
"""

from __future__ import annotations

import html
import importlib.util
import os
from typing import Any
from urllib.parse import urlencode

__all__ = ["LECTURE_CHAT_LINE", "LECTURE_PAGE", "PageFrame", "chat_frame", "excerpt",
           "html_frame", "lecture_page", "page_url", "proxy_prefix", "side_by_side"]


def _has_server_proxy() -> bool:
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def proxy_prefix(proxy: bool | None = None) -> str | None:
    """The path the proxy serves ports under, such as ``/user/alice/proxy/``; None: no proxy.

    ``proxy=None`` decides by the rule in this module's docstring; True or False force it.
    """
    if proxy is False:
        return None
    hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    if proxy is None and not (hub and _has_server_proxy()):
        return None
    prefix = "/" + hub.strip("/") + "/" if hub.strip("/") else "/"
    return prefix + "proxy/"


def _server_address(server_or_port: Any) -> tuple[int, str]:
    """``(port, direct base URL)`` of a BackgroundServer or a port number."""
    if isinstance(server_or_port, bool):
        raise TypeError("expected a BackgroundServer or a port number, not a bool")
    if isinstance(server_or_port, int):
        port, base = server_or_port, f"http://127.0.0.1:{server_or_port}"
    else:
        port = getattr(server_or_port, "port", None)
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"expected a BackgroundServer or a port number, "
                            f"not {server_or_port!r}")
        if not port:
            raise ValueError(f"{server_or_port!r} has no port yet: call .start() first")
        base = server_or_port.url
    if not 0 < port < 65536:
        raise ValueError(f"not a port number: {port!r}")
    return port, base


def page_url(server_or_port: Any, path: str = "/chat", *, proxy: bool | None = None,
             **params: Any) -> str:
    """The address a browser uses for ``path`` on the server (see the module's rule).

    Keyword arguments become the query (``name="alice"`` gives ``?name=alice``); None values
    are left out.

    >>> page_url(8000, name="alice", proxy=False)
    'http://127.0.0.1:8000/chat?name=alice'
    """
    port, base = _server_address(server_or_port)
    if not path.startswith("/"):
        path = "/" + path
    prefix = proxy_prefix(proxy)
    address = f"{prefix}{port}{path}" if prefix else f"{base}{path}"
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{address}?{query}" if query else address


class PageFrame:
    """A web page in a frame, for a notebook to show (its HTML), with a link to open it.

    ``url`` is what the frame loads; ``srcdoc`` (instead of a URL) is a whole HTML document,
    shown in a sandbox: scripts run, but in an origin of their own.
    """

    def __init__(self, url: str | None = None, *, srcdoc: str | None = None,
                 height: int = 420, width: str = "100%", title: str = "",
                 note: str = "") -> None:
        if (url is None) == (srcdoc is None):
            raise ValueError("give either a url or a srcdoc")
        self.url = url
        self.srcdoc = srcdoc
        self.height = height
        self.width = width
        self.title = title
        self.note = note

    def iframe(self) -> str:
        """The ``<iframe>`` element alone."""
        style = ("border: 1px solid #d0d4da; border-radius: 6px; background: white; "
                 "box-sizing: border-box")
        common = (f'width="{html.escape(str(self.width))}" height="{int(self.height)}" '
                  f'style="{style}" title="{html.escape(self.title or "page")}"')
        if self.srcdoc is not None:
            return (f'<iframe {common} sandbox="allow-scripts" '
                    f'srcdoc="{html.escape(self.srcdoc)}"></iframe>')
        return f'<iframe {common} src="{html.escape(self.url or "")}"></iframe>'

    def _repr_html_(self) -> str:
        parts = [self.iframe()]
        caption = []
        if self.note:
            caption.append(f'<span style="color: #a21515">{html.escape(self.note)}</span>')
        if self.url is not None:
            link = html.escape(self.url)
            caption.append(f'<a href="{link}" target="_blank" rel="noopener">{link}</a> '
                           f"(opens in a new tab)")
        if caption:
            parts.append('<div style="font-size: 0.85em; color: #555; margin: 2px 0 6px">'
                         + " · ".join(caption) + "</div>")
        return "<div>" + "".join(parts) + "</div>"

    def __repr__(self) -> str:
        what = self.url if self.url is not None else f"HTML of {len(self.srcdoc or '')} characters"
        return f"<PageFrame {what}>"


def chat_frame(server_or_port: Any, *, name: str | None = None, height: int = 420,
               path: str = "/chat", proxy: bool | None = None, width: str = "100%",
               **params: Any) -> PageFrame:
    """The chat page of a running server, in a frame: ``name`` is who you are in the chat.

    Other keyword arguments go into the page's address (``retry=0.5`` and the like, see
    ``chat.html``); ``path`` shows another page of the same server. The address follows the
    rule in this module's docstring; ``frame.url`` says which it chose.
    """
    url = page_url(server_or_port, path, proxy=proxy, name=name, **params)
    note = ""
    if proxy is None and os.environ.get("JUPYTERHUB_SERVICE_PREFIX") and not _has_server_proxy():
        note = ("This notebook runs on JupyterHub without jupyter-server-proxy, so your browser "
                "probably cannot reach the server: pip install jupyter-server-proxy, then "
                "restart JupyterLab.")
    return PageFrame(url, height=height, width=width, title=f"{path} on port "
                     f"{_server_address(server_or_port)[0]}", note=note)


def html_frame(document: str, *, height: int = 160, title: str = "an HTML example") -> PageFrame:
    """Show ``document`` (HTML) in a sandboxed frame: a page of its own, apart from JupyterLab.

    In a frame, the example's CSS (``body { ... }``) styles only the example, and its script
    runs in an origin of its own, with no access to JupyterLab or to this notebook.
    """
    return PageFrame(srcdoc=document, height=height, title=title)


def side_by_side(*frames: PageFrame) -> Any:
    """Show several frames in one row (each gets an equal share of the width)."""
    from IPython.display import HTML

    cells = "".join(f'<div style="flex: 1 1 0; min-width: 0">{frame._repr_html_()}</div>'
                    for frame in frames)
    return HTML(f'<div style="display: flex; gap: 12px; align-items: flex-start">{cells}</div>')


def excerpt(text: str, start: str, end: str | None = None, *, after: int = 0,
            language: str = "javascript") -> Any:
    """The lines of ``text`` from the first that contains ``start`` to the next that contains
    ``end`` (and ``after`` lines more), dedented and shown as highlighted code."""
    from IPython.display import Code

    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise ValueError(f"no line contains {start!r}")
    last = first
    if end is not None:
        last = next((i for i in range(first, len(lines)) if end in lines[i]), None)
        if last is None:
            raise ValueError(f"no line from {start!r} on contains {end!r}")
    chosen = lines[first:last + 1 + after]
    indent = min((len(line) - len(line.lstrip()) for line in chosen if line.strip()), default=0)
    return Code("\n".join(line[indent:] for line in chosen), language=language)


# -- the lecture's page, flaw included ----------------------------------------------------------

#: The lecture's page, as the slides show it, with two changes only: the socket's address is
#: worked out from the page's own address (the slides have ``ws://localhost:8000``), and
#: ``?name=`` picks the client id (the slides pick a random one). Its ``onclose`` handler is
#: the one the slides name but do not show. Its ``onmessage`` still puts other people's text
#: into ``innerHTML``: lesson 03 shows what that lets them do. Never serve it to other people.
LECTURE_PAGE = """\
<!DOCTYPE html>
<html>
<head>
<title>Chat application</title>
<style>
    body {
        font-family: Arial, sans-serif;
        max-width: 800px;
        margin: 20px auto;
        padding: 20px;
        background-color: #f5f5f5;
    }

    #messages {
        height: 220px;               /* the lecture has 400px: smaller, to fit a notebook */
        overflow-y: scroll;
        border: 1px solid #ddd;
        padding: 15px;
        margin-bottom: 20px;
        background-color: white;
        border-radius: 5px;
        box-shadow: 0 2px 4px rgba(0,0,0,0.1);
    }

    .message { margin: 6px 0; padding: 6px 10px; border-radius: 5px; }
    .message.user { background-color: #dcecff; margin-left: 20%; }
    .message.other { background-color: #eeeeee; margin-right: 20%; }
    .message.system { color: #666666; font-style: italic; text-align: center; }
    .timestamp { color: #888888; font-size: 0.8em; }
    .connected { color: green; }
    .disconnected { color: red; }
    .input-container { display: flex; gap: 10px; }
    #messageText { flex-grow: 1; padding: 8px; }
</style>
</head>
<body>
  <div id="connectionStatus"></div>
  <div id="messages"></div>
  <div class="input-container">
    <input type="text" id="messageText" placeholder="Type your message...">
    <button onclick="sendMessage()">Send</button>
  </div>

<script>
  const params = new URLSearchParams(location.search);
  const clientId = params.get('name') || Math.random().toString(36).substring(7);
  const wsUrl = new URL(`ws/${clientId}`, location.href);     // next to this page
  wsUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(wsUrl);
  const messages = document.getElementById('messages');
  const connectionStatus = document.getElementById('connectionStatus');

  function updateConnectionStatus(connected) {
    connectionStatus.textContent = connected ? 'Connected' : 'Disconnected';
    connectionStatus.className = connected ? 'connected' : 'disconnected';
  }

  ws.onopen = function() {
    updateConnectionStatus(true);
  };

  ws.onmessage = function(event) {
    try {
      const data = JSON.parse(event.data);
      const messageDiv = document.createElement('div');

      if (data.type === 'disconnect') {
        messageDiv.className = 'message system';
        messageDiv.textContent = data.message;
      } else {
        messageDiv.className = `message ${data.client_id === clientId ? 'user' : 'other'}`;
        messageDiv.innerHTML =
          `${data.client_id === clientId ? 'You' : 'Client ' + data.client_id}:
          ${data.message}
          <span class="timestamp">${data.timestamp}</span>
        `;
      }

      messages.appendChild(messageDiv);
      messages.scrollTop = messages.scrollHeight;
    } catch (e) {
      const messageDiv = document.createElement('div');
      messageDiv.className = 'message system';
      messageDiv.textContent = event.data;
      messages.appendChild(messageDiv);
    }
  };

  ws.onclose = function() {
    updateConnectionStatus(false);
  };

  ws.onerror = function() {
    updateConnectionStatus(false);
    const messageDiv = document.createElement('div');
    messageDiv.className = 'message system';
    messageDiv.textContent = 'Error occurred';
    messages.appendChild(messageDiv);
  };

  function sendMessage() {
    const messageInput = document.getElementById('messageText');
    const message = messageInput.value.trim();
    if (message) {
      ws.send(JSON.stringify({
        message: message
      }));
      messageInput.value = '';
    }
  }

  document.getElementById('messageText').addEventListener('keypress', function(e) {
    if (e.key === 'Enter') {
      sendMessage();
    }
  });
</script>
</body>
</html>
"""



_CHAT_LINE_START = "        messageDiv.className = `message ${"
_CHAT_LINE_END = "\n        `;\n"


def _chat_line_span() -> tuple[int, int]:
    start = LECTURE_PAGE.index(_CHAT_LINE_START)
    return start, LECTURE_PAGE.index(_CHAT_LINE_END, start) + len(_CHAT_LINE_END) - 1


#: The part of the lecture page's ``onmessage`` that fills ``messageDiv`` for a chat line, as
#: it is (``innerHTML`` and all), unindented: what lesson 03's exercise starts from, and what
#: :func:`lecture_page` replaces.
LECTURE_CHAT_LINE = "\n".join(line[8:] for line in
                               LECTURE_PAGE[slice(*_chat_line_span())].splitlines())


def lecture_page(chat_line: str | None = None) -> str:
    """The lecture's page, with the JavaScript that fills a chat line replaced by ``chat_line``.

    ``chat_line`` runs where :data:`LECTURE_CHAT_LINE` ran, inside ``onmessage``: it can use
    ``data`` (the message), ``messageDiv`` (the empty line, a ``<div>``), ``clientId`` and
    ``messages``. None keeps the lecture's own.
    """
    if chat_line is None:
        return LECTURE_PAGE
    if not isinstance(chat_line, str):
        raise TypeError(f"chat_line is JavaScript, a str, not {type(chat_line).__name__}")
    start, end = _chat_line_span()
    indented = "\n".join(f"        {line}" if line.strip() else "" for line in
                         chat_line.strip("\n").splitlines())
    return LECTURE_PAGE[:start] + indented + LECTURE_PAGE[end:]
