"""How every wslab server is run by uvicorn: one place for the server's knobs.

The notebook runner (``wslab.runner``), the command line (``python -m wslab serve``) and the
benchmark all build their ``uvicorn.Config`` here, so a student's server, the classroom server
and the measured server behave alike.
"""

from __future__ import annotations

import functools
from typing import Any

import uvicorn

from wslab.http_protocol import HttpProtocol
from wslab.settings import ChatSettings
from wslab.transport_limits import frame_limit_for
from wslab.uvicorn_protocol import WebSocketProtocol

#: uvicorn's keepalive: a ping every 20 s, and a peer that has not answered 20 s later is gone.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0


def uvicorn_config(app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "info",
                   settings: ChatSettings | None = None, **overrides: Any) -> uvicorn.Config:
    """Build the uvicorn configuration for ``app``.

    - ``websockets-sansio``, uvicorn's current WebSocket implementation, named explicitly so
      the kit never falls back to the deprecated legacy one (as :class:`WebSocketProtocol`,
      which drops a peer that stopped reading once it misses a keepalive pong).
    - permessage-deflate off: chat lines are short, compression would cost every connection
      about twice the memory (and OWASP advises against it), so the server declines it even
      when a browser offers it.
    - ``ws_max_size`` from the app's :class:`ChatSettings` (``settings``, when the app is
      given by name, as for ``--workers``): a frame bigger than that is closed with 1009
      before the app sees it; and the frames per second a connection may send, from its rate
      limit (:func:`wslab.transport_limits.frame_limit_for`); an app without ChatSettings (a
      lesson's own) has no frame limit.
    - :class:`~wslab.http_protocol.HttpProtocol` for the request heads: timed, sized and
      counted per client address, in every mode (``wslab.transport_limits`` says why).
    - ``log_config=None``: uvicorn must not reconfigure the logging of the process it runs in
      (a Jupyter kernel, a test run); whoever runs the server decides where logs go.
    """
    if settings is None:
        settings = getattr(getattr(app, "state", None), "settings", None)
    # A lesson's own app (no ChatSettings) floods on purpose in its demos and benchmarks: its
    # frames are not counted. The kit's chat server counts them from its rate limit.
    frame_limit = frame_limit_for(settings) if isinstance(settings, ChatSettings) else None
    if not isinstance(settings, ChatSettings):
        settings = ChatSettings()
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        http=HttpProtocol,
        ws=functools.partial(WebSocketProtocol, frame_limit=frame_limit),
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=PING_INTERVAL,
        ws_ping_timeout=PING_TIMEOUT,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)
