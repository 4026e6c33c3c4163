"""``AppProcess``: ``uvicorn main:app`` as a process of its own, started and stopped from a cell."""

from __future__ import annotations

import inspect
import socket
from pathlib import Path

import httpx2
import pytest
import websockets

from deadlines import listening, scaled, wait_until
from wslab import app_process
from wslab.answers import endpoint as answers
from wslab.app_process import AppProcess, AppStartError

pytestmark = pytest.mark.slow  # every test starts a uvicorn process

#: Lesson 01's main.py (its health check and echo endpoint), and a route that fails.
MAIN = "\n\n".join([
    "from fastapi import FastAPI, WebSocket, WebSocketDisconnect\n\napp = FastAPI()",
    inspect.getsource(answers.health), inspect.getsource(answers.echo),
    '@app.get("/fail")\nasync def fail():\n    raise KeyError("text")\n'])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "main.py").write_text(MAIN, encoding="utf-8")
    return tmp_path


@pytest.fixture
def started():
    """Every process a test starts, stopped afterwards even if the test failed."""
    processes: list[AppProcess] = []

    def start(*args, **kwargs) -> AppProcess:
        process = AppProcess(*args, **kwargs)
        processes.append(process)
        return process.start()

    yield start
    for process in processes:
        process.stop()


async def test_it_serves_main_app_until_stopped_and_keeps_its_log(folder, started):
    server = started("main:app", directory=folder)
    assert server.running and repr(server) == f"<uvicorn main:app: running at {server.url}>"
    assert httpx2.get(server.url + "/").json() == {"message": "WebSocket Server is running"}
    async with websockets.connect(server.ws_url + "/ws/echo") as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
    port = server.port
    server.stop()
    assert not server.running and not listening(port)
    assert repr(server) == "<uvicorn main:app: stopped>"
    log = "\n".join(server.logs(None))
    assert '"GET / HTTP/1.1" 200' in log and "Finished server process" in log
    assert app_process.READY_LINE in log  # what start() waits for
    server.stop()  # a second stop does nothing


def test_the_log_names_the_last_exception(folder, started, capsys):
    server = started("main:app", directory=folder)
    assert httpx2.get(server.url + "/fail").status_code == 500
    assert wait_until(server.last_error, "the exception in the log") == "KeyError: 'text'"
    server.print_logs(last=1)
    assert capsys.readouterr().out == "KeyError: 'text'\n"


def test_starting_again_stops_the_earlier_process_of_the_same_name(folder, started):
    first = started("main:app", directory=folder)
    second = started("main:app", directory=folder)
    assert not first.running and not listening(first.port)
    assert second.running and listening(second.port)
    other = started("main:app", directory=folder, name="another")
    assert second.running and other.running


def test_stop_all_stops_every_process_still_running(folder, started):
    servers = [started("main:app", directory=folder, name=f"server {n}") for n in range(2)]
    app_process.stop_all()
    assert not any(server.running for server in servers)


@pytest.mark.parametrize("target, files, said", [
    ("nomain:app", {}, "uvicorn found no nomain.py"),
    ("main:application", {}, "main.py has no variable application"),
    ("broken:app", {"broken.py": "import this_module_does_not_exist\n"},
     "stopped while importing broken.py: ModuleNotFoundError: No module named "
     "'this_module_does_not_exist'"),
    ("slow:app", {"slow.py": "import time\ntime.sleep(60)\n"}, "did not answer within 3 s"),
])
def test_a_server_that_cannot_start_says_why_in_words_and_quotes_its_log(
        folder, target, files, said):
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    process = AppProcess(target, directory=folder, start_timeout=3 if "slow" in target else 15)
    with pytest.raises(AppStartError) as raised:
        process.start()
    message = str(raised.value)
    assert said in message.splitlines()[0] and "The server's last lines:" in message, message
    assert not process.running


def test_a_taken_port_is_named(folder, started):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(AppStartError, match=f"port {port} is taken"):
            AppProcess("main:app", directory=folder, port=port,
                       start_timeout=scaled(15)).start()


def test_it_works_as_a_context_manager(folder):
    with AppProcess("main:app", directory=folder) as server:
        assert httpx2.get(server.url + "/").status_code == 200
    assert not server.running


def test_the_command_is_the_lectures(folder):
    process = AppProcess("main:app", directory=folder)
    assert process.command()[:4] == ["python", "-m", "uvicorn", "main:app"]
    assert repr(process) == "<uvicorn main:app: not started>"
    with pytest.raises(RuntimeError, match="call .start"):
        process.url
