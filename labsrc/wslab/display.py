"""Show web pages inside a notebook: the chat page of a running server, and small HTML demos.

::

    from wslab.display import chat_frame
    chat_frame(server, name="alice")     # the server's /chat page in a frame, chatting as alice

**Where the frame points.** The page is loaded by the *browser*, and the browser may not run
where the kernel runs. There are three ways to reach the server:

- **direct**, ``http://127.0.0.1:{port}/chat``: JupyterLab on your own computer, where the
  browser and the kernel share ``127.0.0.1``.
- **through jupyter-server-proxy**, ``{base_url}proxy/{port}/chat``, when JupyterLab's server
  is remote. `jupyter-server-proxy <https://jupyter-server-proxy.readthedocs.io>`_ runs inside
  that server and passes HTTP and WebSocket traffic on to ``localhost:{port}`` there. The
  page then comes from JupyterLab's own address, so no other port has to be reachable, and
  only a browser logged in to that JupyterLab (its login cookie) gets through: nobody else
  can use your server this way.
- **the Codespaces forwarded address**, ``https://{CODESPACE_NAME}-{port}.{domain}/chat``
  (the domain is ``GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN``), in a codespace where no
  Jupyter server started the kernel (VS Code's notebook editor starts kernels itself), so
  there is no proxy to go through.

The rule when ``proxy`` is None:

1. ``JUPYTERHUB_SERVICE_PREFIX`` is set: JupyterHub, and Binder too (BinderHub starts each
   session through JupyterHub, which sets it for the server and so for its kernels). The
   proxy, under that prefix (such as ``/user/alice/``).
2. The Jupyter server that started this kernel is remote: its ``base_url`` is not ``/`` (it
   sits behind a reverse proxy), or it listens beyond loopback (``--ip=0.0.0.0``, as in a
   container, whose ``127.0.0.1`` the browser cannot reach), or it runs in a codespace. The
   proxy, under that ``base_url``. The kernel finds its server as ``jupyter server list``
   does: every server writes ``jpserver-<pid>.json`` into Jupyter's runtime directory, and
   the kernel's parent process (``JPY_PARENT_PID`` on POSIX) has that pid.
3. A codespace with no such server: the forwarded address.
4. Otherwise: direct.

Rules 1 and 2 need ``jupyter_server_proxy`` in the server's environment; without it the frame
keeps the direct address and says what to install.

Why the proxy and not the forwarded address in a codespace whose JupyterLab runs the kernel:
a forwarded port is private unless made public, and GitHub lets a browser in only after a
sign-in round trip through github.com, a page that refuses to be shown in a frame. Every
server a notebook starts listens on a new free port, so each one would need that sign-in
again. The proxy lives at the address of the JupyterLab page, where the browser is signed in
already. Without a proxy (VS Code), the frame's caption says to open the link once in a new
tab, which goes through the sign-in, and then to run the cell again: its new frame loads. VS
Code on the desktop instead forwards each port to ``localhost`` on your own computer, usually
under the same number: there, ``proxy=False`` is the address that works.

``proxy=True`` forces the proxy (under the hub's prefix, else the ``base_url`` of the
kernel's server, else ``/``); ``proxy=False`` forces the direct address. The chat page finds
its socket relative to its own address, so it works under every route.

Never put JupyterLab's token into a page's address: the chat page reads ``?token=`` as the
chat's join token and would send it on to the chat server. Inside JupyterLab the frame needs
no token, because the browser is logged in already.

:func:`html_frame` shows a piece of HTML in a sandboxed frame of its own: its CSS cannot
restyle JupyterLab and its script cannot reach JupyterLab. :data:`LECTURE_PAGE` is the
lecture's chat page, with its ``innerHTML`` flaw, for lesson 03's demonstration, and
:func:`lecture_page` is the same page with other JavaScript to fill a chat line (lesson 03's
exercise fixes :data:`LECTURE_CHAT_LINE`).

The markup lives in the package's ``static/`` folder: the frames' in ``page_frame.html`` (a
template whose values are escaped as they go in), the lecture's page in ``lecture.html``.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import importlib.util
import json
import os
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlencode

from wslab.access import codespace, is_loopback

__all__ = ["LECTURE_CHAT_LINE", "LECTURE_PAGE", "PageFrame", "chat_frame", "codespaces_url",
           "excerpt", "html_frame", "lecture_page", "page_url", "proxy_prefix", "side_by_side"]

#: What the frame's caption says when the route wanted the proxy but it is not installed.
NO_PROXY_NOTE = ("JupyterLab runs on a remote server without jupyter-server-proxy, so your "
                 "browser probably cannot reach this page: pip install jupyter-server-proxy "
                 "in JupyterLab's environment, then restart JupyterLab.")
#: What the frame's caption says before the link on the Codespaces route (see the module's
#: docstring: the tab signs the browser in, and the cell's new frame then loads).
CODESPACES_HINT = ("Empty frame, or a GitHub sign-in? Open this link once, then run the cell "
                   "again (in VS Code on the desktop, add proxy=False instead):")


# -- the markup in static/ -------------------------------------------------------------------------


def _static(name: str) -> str:
    """A file of the package's ``static/`` folder, as text (package data: it ships in the wheel)."""
    return resources.files("wslab").joinpath("static", name).read_text(encoding="utf-8")


class _Markup(str):
    """HTML that :func:`_fill` made already, to go into another part as it is."""


@functools.cache
def _parts() -> dict[str, Template]:
    """The parts of ``static/page_frame.html`` by name, each from its ``<!-- part: NAME -->``."""
    pieces = re.split(r"^<!-- part: (\w+) -->\n", _static("page_frame.html"), flags=re.M)
    return {name: Template(body.rstrip("\n")) for name, body in zip(pieces[1::2], pieces[2::2])}


def _fill(part: str, **values: Any) -> _Markup:
    """The part ``part`` of the frames' markup with its ``$names`` filled in.

    Every value is escaped for HTML (text and attribute values alike), except the parts
    :func:`_fill` made already: a name, a note or an address can never add markup. A ``$name``
    without a value raises KeyError rather than showing as is.
    """
    escaped = {name: value if isinstance(value, _Markup) else html.escape(str(value))
               for name, value in values.items()}
    return _Markup(_parts()[part].substitute(escaped))


# -- where a frame points -------------------------------------------------------------------------


def _has_server_proxy() -> bool:
    return importlib.util.find_spec("jupyter_server_proxy") is not None


def _slashed(path: str) -> str:
    """``path`` with exactly one ``/`` at each end (``""`` and ``"/"`` give ``"/"``)."""
    inner = path.strip().strip("/")
    return f"/{inner}/" if inner else "/"


def _hub_prefix() -> str | None:
    hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    return _slashed(hub) if hub else None


def _jupyter_server() -> dict[str, Any] | None:
    """What the Jupyter server that started this kernel says about itself; None: no such server.

    Every Jupyter server writes ``jpserver-<its pid>.json`` into Jupyter's runtime directory
    (the files ``jupyter server list`` reads). A kernel is a child of its server, and on POSIX
    ``JPY_PARENT_PID`` names the server even when a wrapper script started the kernel (on
    Windows that variable holds a handle, not a pid). Reading one file keeps this quick:
    importing ``jupyter_server`` itself takes seconds.
    """
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return None
    declared = os.environ.get("JPY_PARENT_PID", "")
    parents = [int(declared)] if os.name == "posix" and declared.isdigit() else []
    runtime = Path(jupyter_runtime_dir())
    for pid in dict.fromkeys([*parents, os.getppid()]):
        try:
            info = json.loads((runtime / f"jpserver-{pid}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("pid") == pid:
            return info
    return None


def _remote_server(info: dict[str, Any]) -> bool:
    """Whether a browser reaches this Jupyter server from another machine (rule 2)."""
    return (_slashed(str(info.get("base_url") or "/")) != "/"
            or not is_loopback(str(info.get("hostname") or "localhost"))
            or codespace() is not None)


def _route(proxy: bool | None) -> tuple[str, str]:
    """``(route, prefix)`` by the module's rule: route is "direct", "proxy", "no-proxy" (the
    rule wants the proxy, but it is not installed) or "codespaces"; prefix is the path the
    proxy serves under (``/user/alice/``, or ``/``)."""
    hub = _hub_prefix()
    server = _jupyter_server() if hub is None else None
    if hub is not None:
        prefix = hub
    else:
        prefix = _slashed(str(server.get("base_url") or "/")) if server else "/"
    if proxy is not None:
        return ("proxy" if proxy else "direct"), prefix
    if hub is not None or (server is not None and _remote_server(server)):
        return ("proxy" if _has_server_proxy() else "no-proxy"), prefix
    if codespace() is not None:
        return "codespaces", prefix
    return "direct", prefix


def proxy_prefix(proxy: bool | None = None) -> str | None:
    """The path the proxy serves ports under, such as ``/user/alice/proxy/``; None: no proxy.

    ``proxy=None`` decides by the rule in this module's docstring; True or False force it.
    """
    route, prefix = _route(proxy)
    return f"{prefix}proxy/" if route == "proxy" else None


def codespaces_url(port: int, path: str = "") -> str | None:
    """The address GitHub Codespaces forwards ``port`` of this codespace to; None elsewhere.

    ``https://{CODESPACE_NAME}-{port}.{GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN}{path}``, from
    the variables Codespaces sets in every codespace.
    """
    here = codespace()
    if here is None:
        return None
    name, domain = here
    return f"https://{name}-{port}.{domain}{path}"


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


def _address(server_or_port: Any, path: str, proxy: bool | None, params: dict[str, Any]
             ) -> tuple[str, str]:
    """``(url, route)`` for :func:`page_url` and :func:`chat_frame`."""
    port, base = _server_address(server_or_port)
    if not path.startswith("/"):
        path = "/" + path
    route, prefix = _route(proxy)
    forwarded = codespaces_url(port, path) if route == "codespaces" else None
    if route == "proxy":
        address = f"{prefix}proxy/{port}{path}"
    elif forwarded is not None:
        address = forwarded
    else:
        address = f"{base}{path}"
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return (f"{address}?{query}" if query else address), route


def page_url(server_or_port: Any, path: str = "/chat", *, proxy: bool | None = None,
             **params: Any) -> str:
    """The address a browser uses for ``path`` on the server (see the module's rule).

    Keyword arguments become the query (``name="alice"`` gives ``?name=alice``); None values
    are left out.

    >>> page_url(8000, name="alice", proxy=False)
    'http://127.0.0.1:8000/chat?name=alice'
    """
    return _address(server_or_port, path, proxy, params)[0]


@dataclasses.dataclass
class PageFrame:
    """A web page in a frame, for a notebook to show (its HTML), with a link to open it.

    ``url`` is what the frame loads; ``srcdoc`` (instead of a URL) is a whole HTML document,
    shown in a sandbox: scripts run, but in an origin of their own. ``note`` is a warning
    (shown in red under the frame), ``hint`` a piece of advice that leads into the link.
    """

    url: str | None = None
    _: dataclasses.KW_ONLY
    srcdoc: str | None = None
    height: int = 420
    width: str = "100%"
    title: str = ""
    note: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.srcdoc is None):
            raise ValueError("give either a url or a srcdoc")

    def iframe(self) -> str:
        """The ``<iframe>`` element alone."""
        if self.srcdoc is not None:
            source = _fill("document", srcdoc=self.srcdoc)
        else:
            source = _fill("page", url=self.url or "")
        return _fill("iframe", width=self.width, height=int(self.height),
                     title=self.title or "page", source=source)

    def _repr_html_(self) -> str:
        items = []
        if self.note:
            items.append(_fill("note", note=self.note))
        if self.url is not None:
            link = _fill("link", url=self.url)
            items.append(_fill("hinted_link", hint=self.hint, link=link) if self.hint else link)
        caption = _fill("caption", items=_Markup(" · ".join(items))) if items else _Markup("")
        return _fill("frame", iframe=_Markup(self.iframe()), caption=caption)

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
    url, route = _address(server_or_port, path, proxy, {"name": name, **params})
    return PageFrame(url, height=height, width=width,
                     title=f"{path} on port {_server_address(server_or_port)[0]}",
                     note=NO_PROXY_NOTE if route == "no-proxy" else "",
                     hint=CODESPACES_HINT if route == "codespaces" else "")


def html_frame(document: str, *, height: int = 160, title: str = "an HTML example") -> PageFrame:
    """Show ``document`` (HTML) in a sandboxed frame: a page of its own, apart from JupyterLab.

    In a frame, the example's CSS (``body { ... }``) styles only the example, and its script
    runs in an origin of its own, with no access to JupyterLab or to this notebook.
    """
    return PageFrame(srcdoc=document, height=height, title=title)


def side_by_side(*frames: PageFrame) -> Any:
    """Show several frames in one row (each gets an equal share of the width)."""
    from IPython.display import HTML

    cells = "".join(_fill("cell", frame=_Markup(frame._repr_html_())) for frame in frames)
    return HTML(_fill("row", cells=_Markup(cells)))


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

#: The lecture's page (``static/lecture.html``), as the slides show it, with two changes only:
#: the socket's address is worked out from the page's own address (the slides have
#: ``ws://localhost:8000``), and ``?name=`` picks the client id (the slides pick a random one).
#: Its ``onclose`` handler is the one the slides name but do not show. Its ``onmessage`` still
#: puts other people's text into ``innerHTML``: lesson 03 shows what that lets them do. Never
#: serve it to other people.
LECTURE_PAGE = _static("lecture.html")

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
    # Inside <script>, "</script" would end the script wherever it stands, even in a string:
    # "<\/script" means the same to JavaScript, and keeps the page whole.
    chat_line = re.sub(r"</(script)", r"<\\/\1", chat_line, flags=re.I)
    indented = "\n".join(f"        {line}" if line.strip() else "" for line in
                         chat_line.strip("\n").splitlines())
    return LECTURE_PAGE[:start] + indented + LECTURE_PAGE[end:]
