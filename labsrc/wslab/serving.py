"""How every wslab server is run by uvicorn: one place for the server's knobs.

The notebook runner (``wslab.runner``), the command line (``python -m wslab serve``) and the
benchmark all build their ``uvicorn.Config`` here, so a student's server, the classroom server
and the measured server behave alike.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from wslab.settings import ChatSettings
from wslab.uvicorn_protocol import WebSocketProtocol

#: uvicorn's keepalive: a ping every 20 s, and a peer that has not answered 20 s later is gone.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0


def uvicorn_config(app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "info",
                   **overrides: Any) -> uvicorn.Config:
    """Build the uvicorn configuration for ``app``.

    - ``websockets-sansio``, uvicorn's current WebSocket implementation, named explicitly so
      the kit never falls back to the deprecated legacy one (as :class:`WebSocketProtocol`,
      which drops a peer that stopped reading once it misses a keepalive pong).
    - permessage-deflate off: chat lines are short, compression would cost every connection
      about twice the memory (and OWASP advises against it), so the server declines it even
      when a browser offers it.
    - ``ws_max_size`` from the app's :class:`ChatSettings` when it has them: a frame bigger than
      that is closed with 1009 before the app sees it.
    - ``log_config=None``: uvicorn must not reconfigure the logging of the process it runs in
      (a Jupyter kernel, a test run); whoever runs the server decides where logs go.
    """
    settings = getattr(getattr(app, "state", None), "settings", None)
    if not isinstance(settings, ChatSettings):
        settings = ChatSettings()
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        ws=WebSocketProtocol,
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
