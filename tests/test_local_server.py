"""``wslab.local_server``: the URLs of a server the kit starts, for every host it may listen on.

Both servers that build on it are tested with their real addresses, ``with`` blocks and logs
too (test_runner.py, test_app_process.py); here, the hosts a laptop rarely uses.
"""

from __future__ import annotations

import pytest

from wslab.local_server import LocalServer, connectable_host


class Listening(LocalServer):
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.name = host, port, "test"


@pytest.mark.parametrize("host, reached_as", [
    ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("0.0.0.0", "127.0.0.1"),
    ("", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("192.168.1.20", "192.168.1.20"),
])
def test_a_server_is_reached_where_a_client_can_connect(host: str, reached_as: str) -> None:
    assert connectable_host(host) == reached_as
    server = Listening(host, 8123)
    assert server.url == f"http://{reached_as}:8123"
    assert server.ws_url == f"ws://{reached_as}:8123"


def test_a_server_without_a_port_yet_has_no_address() -> None:
    with pytest.raises(RuntimeError, match=r"server 'test' has no port yet: call start\(\) first"):
        Listening("127.0.0.1", 0).url


class Started(Listening):
    """Counts its starts and stops; its log is what the test gives it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("127.0.0.1", 8123)
        self.lines, self.running, self.starts, self.stops = lines, False, 0, 0

    def start(self) -> Started:
        self.running, self.starts = True, self.starts + 1
        return self

    def stop(self) -> None:
        self.running, self.stops = False, self.stops + 1

    def logs(self, last: int | None = 50) -> list[str]:
        return self.lines if last is None else self.lines[-last:]


def test_a_with_block_starts_a_server_unless_it_runs_and_always_stops_it() -> None:
    server = Started([])
    with server as entered:
        assert entered is server and server.starts == 1
    assert server.stops == 1 and not server.running
    server.start()
    with server:
        assert server.starts == 2  # running already: not started again
    assert server.stops == 2


def test_print_logs_shows_the_last_lines_or_says_there_are_none(capsys) -> None:
    Started([]).print_logs()
    assert capsys.readouterr().out == "(server 'test' has logged nothing yet)\n"
    Started(["one", "two", "three"]).print_logs(last=2)
    assert capsys.readouterr().out == "two\nthree\n"
