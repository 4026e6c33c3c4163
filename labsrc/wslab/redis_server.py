"""A Redis server to use: the lesson's, the tests' and the benchmark's.

:class:`RedisServer` starts a throwaway ``redis-server`` on loopback or finds one through
``REDIS_URL``; where there is neither, the lesson gets a stand-in that runs inside the
notebook's own process (:mod:`wslab.redis_stand_in`). Every server started here is stopped when
the interpreter exits (:data:`running_servers`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from typing import Any, Protocol

from wslab.child_process import ChildProcess
from wslab.ports import free_port

INSTALL_REDIS = ("Redis is not installed here. Elective E5 works without it: it starts a "
                 "stand-in (fakeredis) in the notebook. The tests and the benchmark need the real "
                 "one: install it (Debian or Ubuntu: `sudo apt-get install redis-server`; macOS: "
                 "`brew install redis`; Windows: run it in WSL, or `docker run -p 6379:6379 "
                 "redis`), or set REDIS_URL to a Redis server you may use, such as "
                 "redis://127.0.0.1:6379/0.")


#: Query parameters of a Redis URL that say who connects: never shown (redis-py reads them).
_CREDENTIAL_PARAMETERS = ("password", "username")


def safe_url(url: str) -> str:
    """A Redis URL without its user name and password, for logs and banners.

    They may stand before the host (``redis://user:pass@host``; the password may itself hold
    an ``@``, so the host is what follows the last one) or in the query (``?password=...``).
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    parameters = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if any(name in _CREDENTIAL_PARAMETERS for name, _value in parameters):
        query = urllib.parse.urlencode(
            [(name, "***" if name in _CREDENTIAL_PARAMETERS else value)
             for name, value in parameters], safe="*")
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


#: Set to ``1`` to give the lesson the stand-in even where ``redis-server`` is installed.
STAND_IN_ENV = "WSLAB_REDIS_STAND_IN"


class RedisServer:
    """A Redis server for the lesson, the tests and the benchmark.

    :meth:`spawn` starts ``redis-server`` from the PATH on loopback, storing nothing on disk
    (``--save ''``, ``--appendonly no``), open to anyone on this computer or, with
    ``password``, only to those who give it (with ``user`` too: a Redis user of that name,
    the default user turned off); :meth:`stop` and :meth:`start` stop it and start it
    again on the same port (to show an outage). :meth:`find` takes ``REDIS_URL`` when it is set
    (a server someone else runs: never stopped here), or else spawns one. Use it as a context
    manager, or call :meth:`stop` at the end.
    """

    def __init__(self, url: str, *, port: int | None = None,
                 executable: str | None = None, access: tuple[str, ...] = ()) -> None:
        self.url = url
        self.port = port
        self.executable = executable
        #: The redis-server options that say who may connect (:func:`access_options`).
        self.access = access
        self.process: ChildProcess | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the server (and so may stop it)."""
        return self.executable is not None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    @classmethod
    def spawn(cls, port: int = 0, *, executable: str | None = None, timeout: float = 5.0,
              password: str | None = None, user: str | None = None) -> RedisServer:
        """Start ``redis-server`` on 127.0.0.1 (a free port when ``port`` is 0); its
        :attr:`url` holds the ``user`` and ``password`` it asks for, if any."""
        executable = executable or shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError(INSTALL_REDIS)
        port = port or free_port()
        login = f"{urllib.parse.quote(user or '')}:{urllib.parse.quote(password)}@" if password \
            else ""
        server = cls(f"redis://{login}127.0.0.1:{port}/0", port=port, executable=executable,
                     access=access_options(password, user))
        server.start(timeout=timeout)
        return server

    @classmethod
    def find(cls, *, env: str = "REDIS_URL") -> RedisServer | None:
        """``REDIS_URL`` if set (checked with a PING), else a fresh ``redis-server``, else None.

        The tests and the benchmark use it as it is: what they check and measure is the real
        Redis. Elective E5 falls back to the stand-in (``wslab.checks.scaling.lesson_redis``).
        """
        url = os.environ.get(env)
        if url:
            server = cls(url)
            if not server.ping():
                raise ConnectionError(f"{env}={safe_url(url)} is set, but no Redis answers there")
            return server
        if shutil.which("redis-server") is not None:
            return cls.spawn()
        return None

    def start(self, timeout: float = 5.0) -> None:
        """Start the server (again) on its port; return once it answers PING."""
        if not self.owned:
            raise RuntimeError(f"{safe_url(self.url)} is not a server this kit started")
        if self.running:
            return
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="wslab-redis-")
        log = os.path.join(self._dir.name, "redis.log")
        # A session of its own: Jupyter's Interrupt button signals the kernel's whole process
        # group, and Redis would take that SIGINT for an order to shut down.
        self.process = ChildProcess(
            "redis-server",
            ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir.name, "--logfile", log, "--daemonize", "no", *self.access],
            program=str(self.executable), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            new_session=True)
        running_servers.add(self)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if not self.process.running or time.monotonic() > deadline:
                tail = _tail(log)
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop a server this object started (SIGTERM, then SIGKILL). Safe to call twice."""
        process, self.process = self.process, None
        running_servers.discard(self)
        if process is not None:
            process.stop(grace=timeout)

    def close(self) -> None:
        """Stop the server and remove its working folder."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def ping(self) -> bool:
        """Whether a Redis answers at :attr:`url` (within half a second)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = safe_url(self.url)
        if not self.owned:
            return f"<RedisServer {where} (from REDIS_URL)>"
        return f"<RedisServer {where} {'running' if self.running else 'stopped'}>"


def credentials_problem(url: str, timeout: float = 2.0) -> str | None:
    """Why Redis at ``url`` will not let this server in, or None.

    Asked once, before the server starts, so that a wrong or missing password is an error at
    start rather than a worker retrying for ever in the background. A Redis that cannot be
    reached now is no error: the server starts anyway and joins it when it comes (the room is
    ``degraded`` meanwhile). Neither the password nor the URL with it is ever part of the
    answer.
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.AuthenticationError:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None and parts.username is None:
            return (f"Redis at {safe_url(url)} asks for a password: give it in the broker's "
                    "address, as redis://:PASSWORD@host:port/0 (or redis://USER:PASSWORD@... "
                    "for a Redis user of its own)")
        return f"Redis at {safe_url(url)} refused the user name or password in --broker"
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return None


def access_options(password: str | None, user: str | None = None) -> tuple[str, ...]:
    """The ``redis-server`` options that let in only those who give ``password``.

    Without ``user``, the default user needs the password (``--requirepass``). With ``user``,
    a Redis user (ACL) of that name may run every command on every key and channel, and the
    default user is turned off: what the README shows for a shared Redis.
    """
    if password is None:
        if user is not None:
            raise ValueError("a Redis user needs a password")
        return ()
    if user is None:
        return ("--requirepass", password)
    return ("--user", "default", "off", "--user", user, "on", f">{password}", "~*", "&*",
            "+@all")


class _Closable(Protocol):
    """A server that :func:`_stop_running_servers` can stop: a RedisServer or the stand-in."""

    def close(self) -> None: ...


#: Every server started here and still running, stand-ins included: stopped when this
#: interpreter exits (a kernel restarted before its notebook's last cell ran leaves no
#: redis-server behind, and no stand-in thread holding a port).
running_servers: set[_Closable] = set()


@atexit.register
def _stop_running_servers() -> None:
    for server in list(running_servers):
        server.close()


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return "(no log)"
