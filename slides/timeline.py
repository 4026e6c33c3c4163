"""The workshop plans in the instructor guide: which lessons, which of their steps, how long.

This is the one place to change a plan. ``build.py`` reads each lesson's stated time and its
numbered steps from ``labsrc/lessons/`` and checks every plan against them: a session adds up
to its length, a whole lesson gets the time its source states, a part of a lesson gets no more
than that, and every step named exists. Then it writes the timetables into
``instructor-guide.md`` (between the ``GENERATED`` markers) and lists what each plan leaves for
later, including any lesson that no plan mentions yet.

``steps`` names the lesson's numbered steps (``## 3. ...``) done in class, as ``"1-3"`` or
``"1-5, 7"``; None means the whole lesson. In a block of slides, each title in ``*stars*`` must
be a slide of ``deck.md``: the build checks that too.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Block:
    """One stretch of a session: a lesson (or some of its steps), slides, or a break."""

    minutes: int
    what: str                   # Markdown, one line
    lesson: str | None = None   # a lesson number such as "01"
    steps: str | None = None    # the steps done in class; None: the whole lesson


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


PLANS = (
    Plan(
        "One 3-hour session",
        "The lecture in slides, then the core of lessons 01 to 04 in the notebooks, ending with "
        "the whole class in one chat. Students do lesson 00 at home beforehand; the later steps "
        "of each lesson, and the lessons after 04, are for afterwards.",
        (Session("The session", 180, (
            slides(10, "from the title to *One connection, call by call*"),
            Block(5, "Lesson 00 again: everyone runs the machine check; fix the red lines now",
                  lesson="00", steps="1"),
            Block(25, "Lesson 01: polling against push, the handshake, `accept_key`",
                  lesson="01", steps="1-3"),
            Block(40, "Lesson 02: the echo endpoint, servers inside Jupyter, JSON, two exercises",
                  lesson="02", steps="1-9"),
            pause(10),
            slides(10, "*Connection management* to *The endpoint (2/2): plain text and leaving*, "
                       "then *Many clients: figure 8.4*"),
            Block(40, "Lesson 03: the lecture's manager, watched failing, then made safe",
                  lesson="03", steps="1-8"),
            Block(30, "Lesson 04: the endpoint line by line, four attacks, `read_message`",
                  lesson="04", steps="1-5"),
            slides(10, "a glance at *Part II · What the kit adds*; then the whole class chats on "
                       "the instructor's server (*Running the classroom chat*)"),
        )),),
        before=("00",),
    ),
    Plan(
        "Two 90-minute sessions",
        "The same path as the 3-hour plan, with a little more of lesson 01 and a recap at the "
        "start of the second session. Between the sessions, students finish the steps the first "
        "one left out (the self-checks tell them when they are done).",
        (
            Session("Session 1", 90, (
                slides(10, "from the title to *One connection, call by call*"),
                Block(5, "Lesson 00 again: everyone runs the machine check", lesson="00",
                      steps="1"),
                Block(30, "Lesson 01: polling against push, the handshake, `accept_key`, frames",
                      lesson="01", steps="1-4"),
                pause(5),
                Block(40, "Lesson 02: the echo endpoint, servers inside Jupyter, JSON, two "
                          "exercises", lesson="02", steps="1-9"),
            )),
            Session("Session 2", 90, (
                slides(10, "a recap, then *Connection management* to *The endpoint (2/2): plain "
                           "text and leaving*, and *Many clients: figure 8.4*"),
                Block(35, "Lesson 03: the lecture's manager, watched failing, then made safe",
                      lesson="03", steps="1-7"),
                pause(5),
                Block(30, "Lesson 04: the endpoint line by line, four attacks, `read_message`",
                      lesson="04", steps="1-5"),
                slides(10, "a glance at *Part II · What the kit adds*; then the whole class chats "
                           "on the instructor's server (*Running the classroom chat*)"),
            )),
        ),
        before=("00",),
    ),
)
