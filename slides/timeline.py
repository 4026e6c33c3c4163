"""The workshop plans in the instructor guide: which lessons, in which order, in how long.

This is the one place to change a plan. ``build.py`` reads each lesson's stated time from
``labsrc/lessons/`` and checks every plan against it: a lesson is always done in full and gets
exactly the time its source states, a session adds up to its length, every plan covers the
whole core track in order, and every slide a plan names is a slide of ``deck.md`` (titles in
``*stars*``). Then it writes the timetables into ``instructor-guide.md`` (between the
``GENERATED`` markers), with each plan's notebook time and what it leaves for later.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Block:
    """One stretch of a session: a whole lesson, slides, a break, or something the room does."""

    minutes: int
    what: str                   # Markdown, one line
    lesson: str | None = None   # a lesson number such as "01" or "E2": done in full


@dataclasses.dataclass(frozen=True)
class Session:
    title: str
    minutes: int
    blocks: tuple[Block, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
    title: str
    summary: str                # Markdown: who the plan is for, what it gives up
    sessions: tuple[Session, ...]
    before: tuple[str, ...] = ()  # lessons students do at home before the first session


def slides(minutes: int, what: str) -> Block:
    return Block(minutes, f"Slides: {what}")


def pause(minutes: int) -> Block:
    return Block(minutes, "Break: everyone away from the screen")


def lesson(number: str, minutes: int, what: str) -> Block:
    return Block(minutes, f"Lesson {number}: {what}", lesson=number)


OPENING = slides(5, "from the title to *Servers inside Jupyter*")
MANAGER_SLIDES = slides(5, "*What a connection manager does* to *Many clients: figure 8.4*")
CLIENT_SLIDES = slides(10, "*One slow client stalls everyone* to *Best practices and error "
                           "handling* (what lesson 02 showed), then *The client page* to *Events "
                           "on both sides*, and *Running the classroom chat*")
MACHINE_CHECK = Block(5, "Everyone runs the machine check, the first cell of lesson 00 (done at "
                         "home); helpers fix the red lines")

FIRST_ENDPOINT = lesson("01", 35, "`GET /`, the echo endpoint and its five calls; `main.py` "
                                  "under `uvicorn`, then `BackgroundServer`")
CHAT_ROOM = lesson("02", 45, "the lecture's manager and `/ws/{client_id}`, watched failing; "
                             "tasks and queues; the safe manager")
BROWSER_PAGE = lesson("03", 25, "HTML, CSS and JavaScript for the chat; the lecture's page and "
                                "its four events; `innerHTML` against `textContent`")
WIDGET_CHAT = lesson("04", 40, "a chat window of widgets on your own server, then the whole "
                               "class in one chat on the instructor's server")

#: The 3-hour session: the whole core, slides and a break included. The one-day plan's morning.
THE_CORE_IN_ONE_SESSION = (OPENING, MACHINE_CHECK, FIRST_ENDPOINT, MANAGER_SLIDES, CHAT_ROOM,
                           pause(10), CLIENT_SLIDES, BROWSER_PAGE, WIDGET_CHAT)

PLANS = (
    Plan(
        "One 3-hour session",
        "The lecture in slides, and the four core notebooks in full, ending with the whole "
        "class in one chat through `ChatWidget` and the page. Students do lesson 00 at home "
        "beforehand; the electives are for afterwards.",
        (Session("The session", 180, THE_CORE_IN_ONE_SESSION),),
        before=("00",),
    ),
    Plan(
        "Two 90-minute sessions",
        "The same core, split after the server half. The second session opens with the slides "
        "that sum up the first, and ends with the whole class in one chat and ten minutes for "
        "questions and a look at the electives.",
        (
            Session("Session 1", 90, (
                OPENING,
                FIRST_ENDPOINT,
                MANAGER_SLIDES,
                CHAT_ROOM,
            )),
            Session("Session 2", 90, (
                CLIENT_SLIDES,
                BROWSER_PAGE,
                pause(5),
                WIDGET_CHAT,
                Block(10, "The whole class stays in the chat: questions, and which elective "
                          "to take next"),
            )),
        ),
        before=("00",),
    ),
    Plan(
        "A whole day",
        "The 3-hour session in the morning, then two electives that build on it in the "
        "afternoon: Python clients that stay connected, and several workers joined by Redis "
        "(students without Redis get the lesson's stand-in). Any other electives fit the same "
        "slots: the guide's table gives each one's time.",
        (
            Session("Morning", 180, THE_CORE_IN_ONE_SESSION),
            Session("Afternoon", 180, (
                slides(5, "*The safe page: reconnecting* and *Why jitter*"),
                lesson("E3", 90, "a Python client with two tasks on one connection; reconnecting "
                                 "with backoff; the server restarted under it"),
                pause(5),
                slides(10, "*Many workers: figure 8.6* to *Scaling out: one room, several "
                           "workers*"),
                lesson("E5", 65, "two workers, one room, through Redis; what pub/sub loses; a "
                                 "Redis outage"),
                Block(5, "The whole class back in the chat: what each of you would build next"),
            )),
        ),
        before=("00",),
    ),
)
