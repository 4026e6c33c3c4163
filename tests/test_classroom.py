"""Classroom mode: ``python -m wslab serve --classroom`` and ``wslab.classroom``.

Unit tests of the pure parts (the token file, the banner, the live view, the log filter); the
real command on loopback, as an instructor and students would use it; and a class of 200
simulated students chatting at once against it (``wslab.bench.classroom``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import stat
from pathlib import Path

import httpx2
import ipywidgets as widgets
import pytest
import websockets

from cli_process import read_until
from peers import join
from wslab import classroom
from wslab.__main__ import build_parser, classroom_token, main, resolve_defaults, settings_for
from wslab.bench import classroom as class_bench
from wslab.room import RoomSnapshot
from wslab.settings import ChatSettings
from wslab.widgets import CONNECTED

POSIX = os.name == "posix"


def snapshot(online=(), said=None, relayed=0, handshakes=None, frames=None, dropped=None,
             events=None):
    return RoomSnapshot(tuple(online), dict(said or {}), relayed, dict(handshakes or {}),
                        dict(frames or {}), dict(dropped or {}), dict(events or {}))


# -- the join token -----------------------------------------------------------------------------


def test_the_token_file_lives_in_the_users_config_folder():
    where = classroom.default_token_file
    assert where({"WSLAB_TOKEN_FILE": "/x/t", "XDG_CONFIG_HOME": "/c"}, "linux") == Path("/x/t")
    assert where({"XDG_CONFIG_HOME": "/c", "HOME": "/h"}, "linux") == \
        Path("/c/wslab/classroom-token")
    # The XDG specification says a relative path is to be ignored.
    assert where({"XDG_CONFIG_HOME": "c", "HOME": "/h"}, "linux") == \
        Path("/h/.config/wslab/classroom-token")
    assert where({"HOME": "/h"}, "darwin") == Path("/h/.config/wslab/classroom-token")
    assert where({"APPDATA": "/appdata", "XDG_CONFIG_HOME": "/c"}, "win32") == \
        Path("/appdata/wslab/classroom-token")


def test_a_token_is_made_once_kept_privately_and_read_back(tmp_path):
    path = tmp_path / "config" / "wslab" / "classroom-token"
    token, made = classroom.stored_token(path)
    assert made and path.read_text() == token + "\n"
    assert classroom.stored_token(path) == (token, False)  # the same after a restart
    if POSIX:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fresh, made = classroom.stored_token(path, new=True)
    assert made and fresh != token and path.read_text() == fresh + "\n"
    assert [p.name for p in path.parent.iterdir()] == ["classroom-token"]  # no scratch file left
    if POSIX:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_token_the_instructor_wrote_is_kept_and_a_broken_one_explained(tmp_path):
    path = tmp_path / "token"
    path.write_text("  python-2024\n")
    assert classroom.stored_token(path) == ("python-2024", False)
    path.write_text("two words\n")
    with pytest.raises(ValueError, match="--new-token"):
        classroom.stored_token(path)


def test_made_tokens_are_easy_to_read_and_fit_in_an_address():
    tokens = {classroom.make_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", token)
        assert not set(token) & set("01ilo")
        assert classroom.token_format_problem(token) is None
    assert classroom.token_format_problem("a b") is not None
    assert classroom.token_format_problem("a&b") is not None


# -- the banner ---------------------------------------------------------------------------------


def test_the_banner_gives_every_address_with_the_token_and_the_notebook_line():
    settings = ChatSettings(token="abcde-fghjk", local_pages=False)
    text = classroom.banner(settings, "0.0.0.0", 8000, ["10.0.0.5", "192.168.1.20"], "(note)")
    for host in ("10.0.0.5", "192.168.1.20"):
        assert f"  http://{host}:8000/chat?token=abcde-fghjk\n" in text
        assert (f'  ChatWidget("ws://{host}:8000", client_id="your_name", token="abcde-fghjk")\n'
                in text)
    assert "  from wslab.widgets import ChatWidget\n" in text
    assert "Join token: abcde-fghjk (note)" in text
    assert "10 messages/s per student" in text
    assert text.endswith("Press Ctrl-C to stop.")


def test_without_a_network_address_the_banner_says_so():
    text = classroom.banner(ChatSettings(token="t"), "0.0.0.0", 8000, [], "")
    assert "http://<this computer's address>:8000/chat?token=t" in text
    assert "no network address found" in text


def test_an_ipv6_host_is_put_in_brackets():
    assert classroom.join_address("fd00::2", 8000, "t") == "http://[fd00::2]:8000/chat?token=t"


# -- the live view ------------------------------------------------------------------------------


def test_the_live_view_of_a_small_class():
    before = snapshot(["alice", "bob", "gus"], {"alice": 1, "bob": 0, "gus": 2}, relayed=3)
    now = snapshot(["alice", "bob", "carol"], {"alice": 4, "bob": 0, "carol": 1}, relayed=8,
                   handshakes={"bad_token": 2, "foreign_origin": 1},
                   frames={"rate_limited": 5}, dropped={"too slow to keep up": 1})
    assert classroom.format_view("10:42:13", now, before, width=80) == "\n".join([
        "== 10:42:13  3 connected " + "=" * 55,
        "  joined:  1: carol",
        "  left:    1: gus",
        "  online:  alice, bob, carol",
        "  lines:   8 relayed (+5); silent so far: 1 (bob)",
        "  refused: 3 connections (2 wrong or no token, 1 page from another origin); 5",
        "           lines (over the rate limit)",
        "  dropped: 1 client (too slow to keep up)",
    ])


def test_the_first_view_of_an_empty_room():
    assert classroom.format_view("09:00:00", snapshot(), None, width=60) == "\n".join([
        "== 09:00:00  0 connected " + "=" * 35,
        "  online:  nobody",
        "  lines:   0 relayed",
        "  refused: none",
        "  dropped: none",
    ])


@pytest.mark.parametrize("width", [60, 100, 160])
def test_the_live_view_of_200_students_fits_the_terminal(width):
    names = [f"student{index:03d}" for index in range(200)]
    before = snapshot(names[:150], {name: 1 for name in names[:150]}, relayed=150)
    now = snapshot(names, {name: int(index % 7 != 0) for index, name in enumerate(names)},
                   relayed=400)
    text = classroom.format_view("10:00:00", now, before, width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    assert len(lines) <= 10, text
    assert lines[0].startswith("== 10:00:00  200 connected ")
    assert lines[1].startswith("  joined:  50: student150, ")
    assert re.search(r"\.\.\. and \d+ more$", lines[1])
    first = next(i for i, line in enumerate(lines) if line.startswith("  online:"))
    last = next(i for i, line in enumerate(lines) if line.startswith("  lines:"))
    online = "\n".join(lines[first:last])
    shown = re.findall(r"student\d+", online)
    assert shown == names[:len(shown)] and len(shown) >= 10
    assert f"and {200 - len(shown)} more" in online
    assert "400 relayed (+250); silent so far: 29 (student000, student007" in " ".join(text.split())


def test_names_are_cut_to_the_width_and_the_rest_counted():
    assert classroom.client_ids_line(["ann", "bob"], 20) == "ann, bob"
    assert classroom.client_ids_line(["ann", "bob", "cy", "dee", "eve"], 20) == "ann, ... and 4 more"
    assert classroom.client_ids_line(["a" * 30, "bob"], 20) == "a" * 30 + ", ... and 1 more"


# -- the command line ---------------------------------------------------------------------------


def parsed(*argv: str):
    args = build_parser().parse_args(["serve", *argv])
    resolve_defaults(args)
    return args


def test_classroom_mode_listens_everywhere_and_keeps_the_log_quiet_unless_told_otherwise():
    args = parsed("--classroom")
    assert (args.host, args.log_level) == ("0.0.0.0", "warning")
    args = parsed("--classroom", "--host", "127.0.0.1", "--log-level", "info")
    assert (args.host, args.log_level) == ("127.0.0.1", "info")
    assert (parsed().host, parsed().log_level) == ("127.0.0.1", "info")


@pytest.mark.parametrize("argv, complaint", [
    (["--classroom", "--workers", "2", "--broker", "redis://127.0.0.1:1/0"], "one server process"),
    (["--classroom", "--new-token", "--token", "x"], "choose one"),
    (["--new-token"], "go with --classroom"),
    (["--classroom", "--token", "two words"], "--token: a join token is"),
    (["--classroom", "--token", "a"], "at least 10 characters long, or someone can guess it"),
])
def test_classroom_arguments_that_do_not_fit_are_explained(argv, complaint, capsys, tmp_path):
    assert main(["serve", *argv, "--token-file", str(tmp_path / "t")]
                if "--classroom" in argv else ["serve", *argv]) == 2
    assert complaint in capsys.readouterr().err


async def test_a_class_joins_with_what_the_banner_says_and_outsiders_cannot(serve, tmp_path):
    token_file = tmp_path / "token"
    process, port, banner = serve("--classroom", "--host", "127.0.0.1", "--token-file",
                                  str(token_file), "--status-every", "0.2")
    text = "".join(banner)
    token = token_file.read_text().strip()
    page = f"http://127.0.0.1:{port}/chat?token={token}"
    assert f"  {page}\n" in text
    assert f"Join token: {token} (new, kept in {token_file}" in text
    if POSIX:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # The browser: the printed page loads, and its socket (same origin) gets in.
    response = await asyncio.to_thread(httpx2.get, page, trust_env=False, timeout=5)
    assert response.status_code == 200 and "<title>" in response.text
    bob = await join(f"ws://127.0.0.1:{port}", f"bob?token={token}",
                     origin=f"http://127.0.0.1:{port}")

    # The notebook: the two printed lines, pasted with a name, connect.
    from_line = next(line.strip() for line in banner if "import ChatWidget" in line)
    widget_line = next(line.strip() for line in banner if line.strip().startswith("ChatWidget("))
    namespace: dict = {}
    exec(from_line, namespace)
    alice = eval(widget_line.replace(classroom.NAME_PLACEHOLDER, "alice"), namespace)
    try:
        await alice.wait_for(lambda chat: chat.status == CONNECTED and chat.participants == 2,
                             timeout=5)
        assert await alice.say("hello from the notebook")
        line = await bob.chat_line()
        assert (line["client_id"], line["message"]) == ("alice", "hello from the notebook")

        # Outsiders: no token, a wrong one, a page from another origin.
        for query in ("", "?token=guess"):
            outsider = await websockets.connect(f"ws://127.0.0.1:{port}/ws/mallory{query}")
            error = json.loads(await asyncio.wait_for(outsider.recv(), 3))
            assert error["code"] == "bad_token"
            await outsider.wait_closed()
            assert outsider.close_code == 1008
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"ws://127.0.0.1:{port}/ws/page?token={token}",
                                     origin="http://evil.example")
        assert refused.value.response.status_code == 403

        # The live view: who is here, the line, the refusals.
        seen = "".join(await read_until(process, "page from another origin"))
        assert "  online:  alice, bob\n" in seen
        assert "  lines:   1 relayed" in seen
        assert "  refused: 3 connections (2 wrong or no token, 1 page from another origin)" in seen
        assert "Received from client" not in seen  # no log line per chat message

        # Ctrl-C: everyone is told the server restarts, and it stops cleanly.
        process.send_signal(signal.SIGINT)
        code, _ = await bob.closed(timeout=5)
        assert code == 1012
        await alice.wait_for(lambda chat: chat.client.close_code == 1012, timeout=5)
    finally:
        await alice.close()
        widgets.Widget.close(alice)
    assert await asyncio.to_thread(process.wait, 5) == 0
    rest = process.stdout.read()
    assert "Stopped. 1 chat line relayed." in rest
    assert "Traceback" not in seen + rest


async def test_the_token_survives_a_restart_and_a_new_one_locks_the_old_out(serve, tmp_path):
    token_file = tmp_path / "token"
    options = ("--classroom", "--host", "127.0.0.1", "--token-file", str(token_file),
               "--status-every", "0")

    async def start_and_stop(*extra: str) -> tuple[str, str, int]:
        process, port, banner = serve(*options, *extra)
        token = re.search(r"Join token: (\S+) (.*)", "".join(banner))
        student = await join(f"ws://127.0.0.1:{port}", f"alice?token={token.group(1)}")
        await student.ws.close()
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 5) == 0
        return token.group(1), token.group(2), port

    first, note, _ = await start_and_stop()
    assert note.startswith("(new, kept in")
    again, note, _ = await start_and_stop()
    assert (again, note) == (first, f"(kept in {token_file}; --new-token makes a new one)")
    fresh, note, _ = await start_and_stop("--new-token")
    assert fresh != first and note.startswith("(new, kept in")
    assert token_file.read_text().strip() == fresh

    process, port, _ = serve(*options)
    stale = await websockets.connect(f"ws://127.0.0.1:{port}/ws/alice?token={first}")
    assert json.loads(await asyncio.wait_for(stale.recv(), 3))["code"] == "bad_token"
    await stale.close()


def test_a_token_given_on_the_command_line_is_used_and_not_kept(tmp_path):
    args = parsed("--classroom", "--token", "long-enough", "--token-file", str(tmp_path / "t"))
    token, note = classroom_token(args)
    settings = settings_for(args, token)
    assert (settings.token, settings.local_pages) == ("long-enough", False)
    assert "this run only" in note and not (tmp_path / "t").exists()


# -- a whole class ------------------------------------------------------------------------------


@pytest.mark.slow
def test_200_students_chat_at_once_nothing_lost_nobody_stalled(tmp_path):
    """Everyone joins at once, says hello at once, then four more lines each, inside the rate
    limit: every student hears every line, in order per sender; no error replies; nobody is
    dropped as too slow (4408); the server still answers afterwards. No timings are asserted."""
    result = class_bench.run(students=200, lines=5, gap=1.0, processes=2, workdir=str(tmp_path))
    report = class_bench.render(result)
    print(report)
    assert result["joined"] == 200, report
    assert result["sent"] == 1000, report
    assert (result["expected"], result["received"], result["lost"]) == (200_000, 200_000, 0)
    assert result["out_of_order"] == 0, report
    assert result["errors"] == [], report
    assert result["closes"] == {}, report
    assert result["answers_after"], report
    assert result["server_relayed"] == 1001, report  # every line, and the newcomer's
    assert "refused: none" in result["server_last_view"], report
    assert "dropped: none" in result["server_last_view"], report
    assert "deliveries:   200,000 expected, 200,000 received, 0 lost, 0 out of order" in report
    assert re.search(r"latency: +p50 [\d.]+ ms, p99 [\d.]+ ms", report)
    assert "the server answers a newcomer; it counted 1001 lines relayed" in report


# -- the documentation --------------------------------------------------------------------------


def test_the_readme_and_the_guide_show_the_banner_and_the_view_as_they_are():
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    guide = (root / "slides" / "instructor-guide.md").read_text(encoding="utf-8")
    settings = ChatSettings(token="y56sm-f484d", local_pages=False)
    banner = classroom.banner(settings, "0.0.0.0", 8000, ["192.168.1.20"],
                              "(kept in ~/.config/wslab/classroom-token; --new-token makes a "
                              "new one)")
    assert banner in readme
    students = banner[banner.index("Students open"):banner.index("\n\nJoin token")]
    assert students in guide
    names = ("alice bob carol dave erin frank gus hugo ivan judy kim leo mia ned olga pat quinn "
             "rosa sam tina uma vic wendy xavier yann zoe ann").split()
    before = snapshot(sorted(set(names) - {"dave", "erin"}), relayed=356,
                      handshakes={"bad_token": 1}, frames={"rate_limited": 20})
    now = snapshot(sorted(names), {name: 0 if name in ("hugo", "ivan") else 15 for name in names},
                   412, {"bad_token": 1}, {"rate_limited": 20})
    view = classroom.format_view("10:42:13", now, before, width=88)
    assert view in readme and view in guide


def test_the_live_view_names_the_admission_refusals():
    view = classroom.format_view("10:00:00", snapshot(["alice"], relayed=0, handshakes={
        "too_many_attempts": 12, "too_many_joins": 3, "bad_token": 10}), width=160)
    assert ("refused: 25 connections (12 address locked after wrong tokens, 10 wrong or no "
            "token, 3 over the join pace)") in view


def test_the_live_view_counts_forged_broker_events():
    view = classroom.format_view("10:00:00", snapshot(["alice"], relayed=0, handshakes={
        "name_taken": 2}, events={"bad_signature": 40, "not_published_here": 1}), width=160)
    assert ("refused: 2 connections (name in use); 41 broker events (40 wrong signature, 1 "
            "forged under this server's id)") in view
