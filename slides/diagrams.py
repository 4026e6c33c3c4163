"""The deck's diagrams, drawn with matplotlib at build time and saved as SVG.

Two kinds:

- the lessons' own figures from ``wslab.figures`` (the frame layout, one connection call by
  call, the two event loops, the fan-out timelines, the hardened loop, reconnecting with
  jitter, the kernel's one loop, and the workers with a broker, which is the lecture's figure
  8.6), reused as they are, so a picture is never drawn twice;
- the lecture's pictures that no lesson draws, made here for a slide (big type, 1280x720 in
  mind): polling against push, the ``ConnectionManager`` class diagrams, the sequence diagram,
  figure 8.4 (clients around a server), and the kit's path of one message.

The class diagrams are read from the code with :mod:`ast`: their attributes, methods and the
calls between the boxes come from ``wslab.lecture`` and ``wslab.manager`` as they are now. The
other diagrams name functions and calls of the kit; :func:`require_in_source` checks that each
one still exists, so a renamed function breaks the build instead of leaving a stale picture.

Every function returns a ``matplotlib.figure.Figure`` made without pyplot.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
from pathlib import Path
from typing import Callable, Iterable

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

# The deck's colours (slides/page/theme.css), so the pictures and the slides match.
ACCENT = "#0b4aa2"
ACCENT_DARK = "#082f6b"
CLIENT = "#dbe8fb"      # browsers and other clients
SERVER = "#fde3c8"      # the server side
BROKER = "#e3d9f3"
NOTE = "#f3f5f8"
MESSAGE = "#d9480f"     # one chat message on its way
FANOUT = "#0b4aa2"
INK = "#141b26"
MUTED = "#4a5565"
LINE = "#6b7686"

PT = 72 / 100           # points per pixel at dpi 100: sizes below are in pixels
MONO = "DejaVu Sans Mono"
SANS = "DejaVu Sans"


class SourceChanged(RuntimeError):
    """A diagram names code that is no longer in the kit."""


# -- reading the kit's source -------------------------------------------------------------------

def module_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SourceChanged(f"module {module} not found")
    return Path(spec.origin)


def module_tree(module: str) -> ast.Module:
    return ast.parse(module_path(module).read_text(encoding="utf-8"))


def find_class(tree: ast.AST, name: str) -> ast.ClassDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise SourceChanged(f"class {name} not found")


def find_function(tree: ast.AST, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    raise SourceChanged(f"function {name} not found")


def require_in_source(module: str, *names: str) -> None:
    """Fail the build if any of ``names`` (a def, or a snippet of code) is not in ``module``."""
    text = module_path(module).read_text(encoding="utf-8")
    tree = ast.parse(text)
    defined = {node.name for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    missing = [name for name in names if name not in defined and name not in text]
    if missing:
        raise SourceChanged(f"{module} no longer has {', '.join(missing)}: "
                            f"update slides/diagrams.py")


@dataclasses.dataclass
class UmlClass:
    name: str
    attributes: list[str]
    methods: list[str]
    stereotype: str = ""


def _annotation(node: ast.AST | None) -> str:
    return ast.unparse(node) if node is not None else ""


def _signature(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = []
    positional = func.args.posonlyargs + func.args.args
    if positional and positional[0].arg in ("self", "cls"):
        positional = positional[1:]
    for arg in positional:
        args.append(arg.arg + (f": {_annotation(arg.annotation)}" if arg.annotation else ""))
    if func.args.kwonlyargs:
        args.append("*")
        args.extend(arg.arg for arg in func.args.kwonlyargs)
    returns = _annotation(func.returns)
    returns = f" -> {returns}" if returns and returns != "None" else ""
    prefix = "async " if isinstance(func, ast.AsyncFunctionDef) else ""
    return f"{prefix}{func.name}({', '.join(args)}){returns}"


def _literal_type(value: ast.AST) -> str:
    if isinstance(value, ast.Constant) and value.value is not None:
        return type(value.value).__name__
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        return ast.unparse(value.func)            # collections.deque() -> collections.deque
    return ""


def uml_class(tree: ast.AST, name: str, *, methods: Iterable[str] | None = None,
              stereotype: str = "") -> UmlClass:
    """A class as UML lists it: attributes set in ``__init__`` (with their types), properties
    as derived attributes (``/name``), and method signatures (``methods`` picks which)."""
    node = find_class(tree, name)
    init = next((item for item in node.body
                 if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
    params = {}
    if init is not None:
        for arg in init.args.args + init.args.kwonlyargs:
            params[arg.arg] = _annotation(arg.annotation)
    attributes: list[str] = []
    seen: set[str] = set()
    for statement in ast.walk(init) if init is not None else ():
        target, kind = None, ""
        if isinstance(statement, ast.AnnAssign):
            target, kind = statement.target, _annotation(statement.annotation)
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            value = statement.value
            kind = (params.get(value.id, "") if isinstance(value, ast.Name)
                    else _literal_type(value))
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == "self" and target.attr not in seen):
            seen.add(target.attr)
            attributes.append(target.attr + (f": {kind}" if kind else ""))
    defs = [item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for item in defs:
        if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
            attributes.append(f"/{item.name}: {_annotation(item.returns)}")
    wanted = list(methods) if methods is not None else [
        item.name for item in defs if not item.name.startswith("_")
        and not any(isinstance(d, ast.Name) and d.id in ("property", "staticmethod")
                    for d in item.decorator_list)]
    by_name = {item.name: item for item in defs}
    missing = [m for m in wanted if m not in by_name]
    if missing:
        raise SourceChanged(f"class {name} has no method {', '.join(missing)}")
    return UmlClass(name, attributes, [_signature(by_name[m]) for m in wanted], stereotype)


def calls_on(func: ast.AST, *receivers: str) -> list[str]:
    """The methods ``func`` calls on the given names, in order of first use (``x.accept()``)."""
    found: list[str] = []
    for node in ast.walk(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in receivers
                and node.func.attr not in found):
            found.append(node.func.attr)
    return found


# -- drawing helpers: a canvas in pixels, y growing downwards -------------------------------------

def canvas(width: int, height: int) -> tuple[Figure, object]:
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    return fig, ax


def text(ax, x, y, words, size=17, *, mono=False, weight="normal", color=INK, ha="center",
         va="center", style="normal", box=None, **kw):
    return ax.text(x, y, words, fontsize=size * PT, family=MONO if mono else SANS,
                   fontweight=weight, color=color, ha=ha, va=va, style=style, bbox=box,
                   linespacing=1.25, **kw)


def box(ax, x, y, width, height, color, *, edge=INK, radius=10, lw=1.6, dashed=False):
    ax.add_patch(FancyBboxPatch((x, y), width, height,
                                boxstyle=f"round,pad=0,rounding_size={radius}",
                                facecolor=color, edgecolor=edge, linewidth=lw,
                                linestyle="--" if dashed else "-"))


def arrow(ax, start, end, *, color=LINE, lw=2.0, both=False, style="-|>", dashed=False,
          shrink=0, rad=0.0, mutation=18):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=("<|-|>" if both else style),
                                 color=color, linewidth=lw, mutation_scale=mutation,
                                 shrinkA=shrink, shrinkB=shrink,
                                 linestyle="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}"))


def badge(ax, x, y, label, color=MESSAGE, size=15):
    ax.text(x, y, label, fontsize=size * PT, family=SANS, fontweight="bold", color="white",
            ha="center", va="center",
            bbox=dict(boxstyle="circle,pad=0.25", facecolor=color, edgecolor="none"))


def char_width(size: float) -> float:
    """The advance of one DejaVu Sans Mono character at ``size`` pixels."""
    return 0.602 * size


def uml_size(uml: UmlClass, size: float = 18, head: float = 21) -> tuple[float, float]:
    """The (width, height) :func:`uml_box` needs for ``uml``."""
    lines = uml.attributes + uml.methods
    longest = max([len(line) for line in lines] + [len(uml.name) * head / size])
    row = size * 1.45
    top = 14 + (row if uml.stereotype else 0) + head * 1.5
    return longest * char_width(size) + 30, top + row * len(lines) + 26


def uml_box(ax, x, y, uml: UmlClass, *, color, size: float = 18, head: float = 21
            ) -> tuple[float, float]:
    """Draw a UML class box with its top-left corner at (x, y); returns (width, height)."""
    width, height = uml_size(uml, size, head)
    row = size * 1.45
    top = 14 + (row if uml.stereotype else 0) + head * 1.5
    box(ax, x, y, width, height, color, radius=6)
    if uml.stereotype:
        text(ax, x + width / 2, y + 12 + row / 2, f"«{uml.stereotype}»", size - 2, color=MUTED)
    text(ax, x + width / 2, y + top - head * 0.8, uml.name, head, mono=True, weight="bold")
    cursor = y + top
    for group in (uml.attributes, uml.methods):
        ax.plot([x, x + width], [cursor, cursor], color=INK, linewidth=1.2)
        cursor += 6
        for line in group:
            text(ax, x + 15, cursor + row / 2, line, size, mono=True, ha="left")
            cursor += row
        cursor += 7
    return width, height


# -- the lecture's pictures ----------------------------------------------------------------------

def polling_vs_push() -> Figure:
    """Left: a client polling over HTTP; right: the same update pushed over a WebSocket."""
    fig, ax = canvas(1180, 560)

    def lifelines(x_client, x_server, title):
        text(ax, (x_client + x_server) / 2, 22, title, 21, weight="bold", color=ACCENT_DARK)
        for x, label, color in ((x_client, "browser", CLIENT), (x_server, "server", SERVER)):
            box(ax, x - 70, 46, 140, 40, color)
            text(ax, x, 66, label, 17)
            ax.plot([x, x], [86, 530], color="#9aa4b2", linestyle="--", linewidth=1.2)

    def message(x0, y0, x1, y1, label, color=LINE, weight="normal", above=True, lw=2.0):
        arrow(ax, (x0, y0), (x1, y1), color=color, lw=lw)
        text(ax, (x0 + x1) / 2, (y0 + y1) / 2 - (14 if above else -14), label, 16,
             mono=True, color=color if color != LINE else INK, weight=weight)

    def news(x, y, label, side):
        ax.plot([x], [y], marker="*", markersize=20, color=MESSAGE)
        text(ax, x + (16 if side == "right" else -16), y, label, 15, color=MESSAGE,
             ha="left" if side == "right" else "right", weight="bold")

    # Polling: the client asks every second; bob's line waits on the server for the next ask.
    c, s = 110, 470
    lifelines(c, s, "Polling: ask, again and again")
    asks = [115, 200, 285, 370, 455]
    for n, y in enumerate(asks):
        useful = n == 2
        message(c, y, s, y + 14, "GET /messages/new")
        message(s, y + 30, c, y + 44, 'bob: "hi"' if useful else "nothing new",
                color=MESSAGE if useful else LINE, weight="bold" if useful else "normal",
                above=False)
    news(s, 258, 'bob: "hi"', "right")
    ax.add_patch(Rectangle((s + 6, 258), 10, asks[2] + 30 - 258, facecolor="#f6c9b5",
                           edgecolor="none"))
    text(ax, s + 24, 300, "waits for\nthe next ask", 15.5, color=MESSAGE, ha="left")
    text(ax, (c + s) / 2, 542, "5 requests, 1 useful answer, and a delay", 17.5, color=MUTED)

    # Push: one handshake, then the server sends the line the moment it exists.
    c, s = 700, 1060
    lifelines(c, s, "WebSocket: one connection, pushed at once")
    message(c, 110, s, 124, "GET /ws/alice  Upgrade: websocket")
    message(s, 140, c, 154, "101 Switching Protocols", above=False)
    text(ax, (c + s) / 2, 190, "the connection stays open …", 16, color=MUTED, style="italic")
    news(s, 258, 'bob: "hi"', "right")
    message(s, 258, c, 272, 'bob: "hi"', color=MESSAGE, weight="bold")
    message(c, 330, s, 344, 'alice: "hello"')
    text(ax, (c + s) / 2, 372, "either side, any time", 16, color=MUTED, style="italic")
    news(s, 420, 'chen: "hey"', "right")
    message(s, 420, c, 434, 'chen: "hey"', color=MESSAGE, weight="bold")
    text(ax, (c + s) / 2, 542, "1 handshake, then small frames, both ways", 17.5, color=MUTED)
    ax.plot([590, 590], [10, 550], color="#d5dbe3", linewidth=2)
    return fig


def _lecture_source() -> tuple[ast.Module, ast.AsyncFunctionDef]:
    tree = module_tree("wslab.lecture")
    endpoint = find_function(tree, "websocket_endpoint")
    return tree, endpoint


def lecture_class_diagram() -> Figure:
    """The lecture's ConnectionManager, the endpoint that uses it and the WebSockets it holds,
    read from ``wslab.lecture``."""
    tree, endpoint = _lecture_source()
    manager = uml_class(tree, "ConnectionManager")
    manager_node = find_class(tree, "ConnectionManager")
    socket_calls = calls_on(manager_node, "websocket", "connection")
    endpoint_socket_calls = calls_on(endpoint, "websocket")
    manager_calls = calls_on(endpoint, "manager")
    websocket = UmlClass("WebSocket", [], [f"{name}(...)" for name in
                                           dict.fromkeys(socket_calls + endpoint_socket_calls)],
                         "FastAPI (Starlette)")
    function = UmlClass(endpoint.name, ["client_id: str"],
                        [f"manager.{name}(...)" for name in manager_calls], "endpoint")

    fig, ax = canvas(1180, 540)
    mw, mh = uml_size(manager)
    mx, my = 590 - mw / 2, 16
    uml_box(ax, mx, my, manager, color=CLIENT)
    ew, eh = uml_size(function)
    ex, ey = 20, my + mh + 70
    uml_box(ax, ex, ey, function, color=SERVER)
    ww, wh = uml_size(websocket)
    wx, wy = 1160 - ww, my + mh + 70
    uml_box(ax, wx, wy, websocket, color=NOTE)
    # endpoint -> manager: calls its methods
    arrow(ax, (ex + ew / 2 + 60, ey), (mx, my + mh * 0.72), color=INK, lw=2, dashed=True)
    text(ax, ex + ew / 2 + 30, my + mh - 4, "calls", 17, color=MUTED, ha="right")
    # manager <>- WebSocket: holds any number of them
    start = (mx + mw, my + mh * 0.72)
    end = (wx + ww / 2, wy)
    ax.plot([start[0], end[0]], [start[1], start[1]], color=INK, linewidth=2)
    arrow(ax, (end[0], start[1]), end, color=INK, lw=2)
    ax.plot([start[0] + 9], [start[1]], marker="D", markersize=13, markerfacecolor="white",
            markeredgecolor=INK, markeredgewidth=1.8)
    text(ax, start[0] + 30, start[1] - 18, "active_connections", 16, mono=True, ha="left")
    text(ax, end[0] + 10, wy - 20, "0..*", 17, mono=True, ha="left")
    # endpoint -> its own WebSocket: reads from it
    level = ey + min(eh, wh) * 0.72
    arrow(ax, (ex + ew, level), (wx, level), color=INK, lw=2, dashed=True)
    text(ax, (ex + ew + wx) / 2, level - 24,
         f"reads its own socket: {', '.join(endpoint_socket_calls)}()", 16, color=MUTED)
    text(ax, 590, 522, f"Read from wslab/lecture.py at build time: {len(manager.attributes)} "
         f"attributes, {len(manager.methods)} methods; the endpoint calls "
         f"{', '.join(manager_calls)}.", 15, color=MUTED)
    return fig


def kit_class_diagram() -> Figure:
    """The kit's ConnectionManager: the lecture's names outside, one outbox per connection
    inside. Read from ``wslab.manager``."""
    tree = module_tree("wslab.manager")
    manager = uml_class(tree, "ConnectionManager",
                        methods=["connect", "disconnect", "send_personal_message", "broadcast",
                                 "close"])
    outbox = uml_class(tree, "_Outbox", methods=["put", "_write", "discard"])
    outbox.attributes = [line for line in outbox.attributes if not line.startswith("manager")]
    fig, ax = canvas(1180, 540)
    size = 16.5
    mw, mh = uml_size(manager, size)
    uml_box(ax, 16, 16, manager, color=CLIENT, size=size)
    ow, oh = uml_size(outbox, size)
    ox, oy = 1164 - ow, 190
    uml_box(ax, ox, oy, outbox, color=SERVER, size=size)
    y, x_end = 16 + 70, ox + ow / 2
    ax.plot([16 + mw, x_end], [y, y], color=INK, linewidth=2)
    ax.plot([x_end, x_end], [y, oy], color=INK, linewidth=2)
    ax.plot([16 + mw + 9], [y], marker="D", markersize=13, color=INK)
    text(ax, 16 + mw + 26, y - 18, "_outboxes", 16, mono=True, ha="left")
    text(ax, x_end + 10, oy - 20, "0..*", 16, mono=True, ha="left")
    text(ax, ox + ow / 2, oy + oh + 50,
         "one per connection: the messages waiting\nfor it, and a writer task while there are any",
         16, color=MUTED)
    text(ax, 16 + mw / 2, 16 + mh + 54,
         "broadcast() appends to every outbox and returns:\nit never waits for a client",
         16, color=MUTED)
    return fig


SEQUENCE_CALLS = ("manager.connect(websocket)", "await websocket.accept()",
                  "active_connections.append(websocket)", "await websocket.receive_text()",
                  "json.loads(data)", "manager.broadcast(json.dumps(message_data))",
                  "await connection.send_text(message)", "except WebSocketDisconnect",
                  "manager.disconnect(websocket)", "left the chat")


def sequence_diagram() -> Figure:
    """Two browsers, the endpoint and the lecture's manager: connect, one message, a leave."""
    require_in_source("wslab.lecture", *SEQUENCE_CALLS)
    fig, ax = canvas(1180, 640)
    lanes = {"alice": 95, "bob": 265, "endpoint": 540, "manager": 1055}
    heads = {"alice": ("alice's page", CLIENT), "bob": ("bob's page", CLIENT),
             "endpoint": ("websocket_endpoint\n(alice's handler)", SERVER),
             "manager": ("ConnectionManager", SERVER)}
    for name, x in lanes.items():
        label, color = heads[name]
        width = 250 if name == "endpoint" else 230 if name == "manager" else 150
        box(ax, x - width / 2, 6, width, 56, color)
        text(ax, x, 34, label, 17, mono=name == "manager")
        ax.plot([x, x], [62, 632], color="#9aa4b2", linestyle="--", linewidth=1.2)
    # alice's handler runs for the whole life of alice's connection
    ax.add_patch(Rectangle((lanes["endpoint"] - 7, 96), 14, 510, facecolor="#f7b889",
                           edgecolor=INK, linewidth=1, zorder=3))

    def call(a, b, y, label, color=INK, mono=True):
        x0, x1 = lanes[a], lanes[b]
        if a == "endpoint":
            x0 += 8 if x1 > x0 else -8
        if b == "endpoint":
            x1 += -8 if x1 > x0 else 8
        arrow(ax, (x0, y), (x1, y), color=color, lw=2)
        if "manager" in (a, b) and "endpoint" not in (a, b):
            lx, ha = lanes["manager"] - 20, "right"
        elif "manager" in (a, b):
            lx, ha = lanes["endpoint"] + 20, "left"
        else:
            lx, ha = (x0 + x1) / 2, "center"
        text(ax, lx, y - 14, label, 15.5, mono=mono, color=color, ha=ha)

    def self_note(lane, y, label, side="right"):
        x = lanes[lane] + (20 if side == "right" else -20)
        text(ax, x, y, label, 15, mono=True, ha="left" if side == "right" else "right",
             color=MUTED)

    call("alice", "endpoint", 104, "GET /ws/alice  (Upgrade: websocket)", mono=False)
    call("endpoint", "manager", 140, "await manager.connect(websocket)")
    call("manager", "alice", 176, "await websocket.accept()  →  HTTP 101", color=ACCENT)
    self_note("manager", 204, "active_connections.append(websocket)", side="left")
    ax.add_patch(Rectangle((20, 224), 1140, 32, facecolor=NOTE, edgecolor="none", zorder=1))
    text(ax, 300, 240, "bob connects the same way, and gets a handler of his own", 15.5,
         color=MUTED, style="italic")
    call("alice", "endpoint", 292, "ws.send('{\"message\": \"hi\"}')", color=MESSAGE)
    self_note("endpoint", 322, "data = await websocket.receive_text()\n"
              "json.loads(data), + client_id, timestamp")
    call("endpoint", "manager", 374, "await manager.broadcast(json.dumps(message_data))")
    call("manager", "alice", 412, "await connection.send_text(message)", color=FANOUT)
    call("manager", "bob", 448, "then bob's send_text: one after the other", color=FANOUT)
    ax.add_patch(Rectangle((20, 468), 1140, 2, facecolor="#d5dbe3", edgecolor="none"))
    call("alice", "endpoint", 500, "alice closes the page", mono=False)
    self_note("endpoint", 526, "receive_text() raises WebSocketDisconnect")
    call("endpoint", "manager", 562, "manager.disconnect(websocket)")
    call("endpoint", "manager", 596, "await manager.broadcast(... left the chat)")
    call("manager", "bob", 628, "send_text(leave message)", color=FANOUT)
    return fig


def clients_and_server() -> Figure:
    """Figure 8.4: several clients, each with a WebSocket open to one server; one message fans
    out to all of them."""
    fig, ax = canvas(1180, 560)
    cx, cy = 590, 285
    box(ax, cx - 150, cy - 70, 300, 140, SERVER, lw=2)
    text(ax, cx, cy - 36, "FastAPI server", 20, weight="bold")
    text(ax, cx, cy + 4, "ConnectionManager", 16, mono=True)
    text(ax, cx, cy + 36, "active_connections: 6", 15, mono=True, color=MUTED)
    clients = {"alice": (150, 285), "bob": (300, 80), "chen": (880, 80), "dara": (1030, 285),
               "eve": (880, 490), "fin": (300, 490)}
    for name, (x, y) in clients.items():
        box(ax, x - 80, y - 30, 160, 60, CLIENT)
        text(ax, x, y, name, 18)
        dx, dy = cx - x, cy - y
        # the connection: a wide pale "tunnel" from the client to the server's edge
        start = (x + (80 if dx > 0 else -80 if dx < 0 else 0) * (abs(dy) < 60),
                 y + (30 if dy > 0 else -30) * (abs(dy) >= 60))
        end = (cx - 150 if x < cx - 150 else cx + 150 if x > cx + 150 else x,
               cy if abs(dy) < 60 else cy - 70 if dy > 0 else cy + 70)
        if abs(dy) >= 60:
            end = (cx + (-100 if dx > 0 else 100), cy - 70 if dy > 0 else cy + 70)
        ax.plot([start[0], end[0]], [start[1], end[1]], color="#cfd7e3", linewidth=14,
                solid_capstyle="round", zorder=0)
        if name == "alice":
            arrow(ax, (start[0], start[1] - 5), (end[0], end[1] - 5), color=MESSAGE, lw=3,
                  shrink=4)
            arrow(ax, (end[0], end[1] + 5), (start[0], start[1] + 5), color=FANOUT, lw=2.2,
                  shrink=6)
            text(ax, (start[0] + end[0]) / 2, start[1] - 28, '① "hi"', 17, color=MESSAGE,
                 weight="bold")
        else:
            arrow(ax, end, start, color=FANOUT, lw=2.2, shrink=6)
    badge(ax, cx + 185, cy - 95, "②", FANOUT)
    text(ax, cx + 205, cy - 95, "broadcast: the same text to every\nconnection, alice's own too",
         15,
         color=FANOUT, ha="left")
    text(ax, 590, 548, "Each client keeps one WebSocket open to the server; the server sends "
         "what one says to all.", 16, color=MUTED)
    return fig


PATH_STEPS = (
    ("wslab.chat", "chat_endpoint", "chat_endpoint", "receive one frame"),
    ("wslab.room", "receive", "ChatRoom.receive", "read_client_text, rate limit;\n"
                                                  "bad input: error to the sender only"),
    ("wslab.room", "relay", "ChatRoom.relay", "publish to the broker"),
    ("wslab.room", "_on_event", "ChatRoom._on_event", "on every worker: the\nevent comes back"),
    ("wslab.manager", "broadcast", "ConnectionManager.broadcast", "append to every outbox;\n"
                                                                  "a full one: drop it (4408)"),
    ("wslab.manager", "_write", "_Outbox._write",
     "one writer per connection:\nsend_text, in order"),
)


def message_path(upto: int = len(PATH_STEPS)) -> Figure:
    """The kit's path of one chat line, one box per function, each checked to exist; ``upto``
    draws only the first boxes, so that a slide can build the path up one step at a time."""
    for module, name, _, _ in PATH_STEPS:
        require_in_source(module, name)
    require_in_source("wslab.envelope", "read_client_text")
    fig, ax = canvas(1180, 480)
    width, height, gap = 340, 170, 60
    positions = [(30 + (width + gap) * (i % 3), 20 + 270 * (i // 3)) for i in range(6)]
    for i, ((module, _, label, note), (x, y)) in enumerate(zip(PATH_STEPS[:upto], positions)):
        box(ax, x, y, width, height, SERVER if i < 4 else CLIENT)
        badge(ax, x + 4, y + 4, str(i + 1), ACCENT, size=17)
        text(ax, x + width / 2, y + 40, label, 18.5 if len(label) > 22 else 20, mono=True,
             weight="bold")
        text(ax, x + width / 2, y + 98, note, 17.5, color=INK)
        text(ax, x + width - 12, y + height - 6, module, 14.5, mono=True, color=MUTED,
             ha="right", va="bottom")
    for i in range(upto - 1):
        (x0, y0), (x1, y1) = positions[i], positions[i + 1]
        if y0 == y1:
            arrow(ax, (x0 + width, y0 + height / 2), (x1, y1 + height / 2), color=INK, lw=2.2)
        else:  # down a row: along the gap between the rows, through the broker
            middle = (y0 + height + y1) / 2
            ax.plot([x0 + width / 2, x0 + width / 2, x1 + width / 2],
                    [y0 + height, middle, middle], color=INK, linewidth=2.2)
            arrow(ax, (x1 + width / 2, middle - 1), (x1 + width / 2, y1), color=INK, lw=2.2)
            text(ax, (x0 + x1 + width) / 2, middle - 16, "through the broker (in-process, or "
                 "Redis), to every worker", 17, color=MUTED)
    return fig


# -- the registry the deck uses (@figure NAME) -------------------------------------------------

def _wslab(module: str, name: str, **kwargs) -> Callable[[], Figure]:
    def draw() -> Figure:
        function = getattr(importlib.import_module(module), name)
        return function(**kwargs)
    draw.__name__ = f"{module}.{name}"
    return draw


def _chat_frame() -> Figure:
    from wslab.figures.frame import frame_layout
    from wslab.protocol import Opcode, encode_frame
    # The RFC's masked "Hello" example, so the picture is the same at every build.
    frame = encode_frame(Opcode.TEXT, b"Hello", mask=bytes.fromhex("37fa213d"))
    return frame_layout(frame, title='A client\'s text frame: "Hello", masked')


def _fanout_half(which: str) -> Callable[[], Figure]:
    """One of the two timelines of ``wslab.figures.fanout.fanout_timelines``, on a figure of its
    own, so that on a slide it is drawn twice as large."""
    def draw() -> Figure:
        from matplotlib.patches import Rectangle as Key
        from wslab.figures import fanout
        fig = Figure(figsize=(9.5, 4.1 if which == "sequential" else 4.3), layout="constrained")
        getattr(fanout, f"draw_{which}")(fig.subplots())
        keys = [(fanout.BROADCAST, None, "-", "broadcast running"),
                (fanout.HEALTHY, None, "-", "a send that completes"),
                (fanout.STUCK, "//", "-", "waiting for a send")]
        keys += ([(fanout.NEVER, None, "--", "never sent")] if which == "sequential" else
                 [(fanout.QUEUED, None, "-", "waiting in an outbox")])
        fig.legend([Key((0, 0), 1, 1, facecolor=c, edgecolor="#555555", hatch=h, linestyle=ls)
                    for c, h, ls, _ in keys], [label for *_, label in keys],
                   loc="outside lower center", ncols=len(keys), fontsize=9, frameon=False)
        return fig
    return draw


#: name -> (draw function, alternative text for the slide)
FIGURES: dict[str, tuple[Callable[[], Figure], str]] = {
    "polling-vs-push": (polling_vs_push, "Polling asks the server again and again; a WebSocket "
                        "stays open and the server pushes each update as it happens."),
    "lecture-classes": (lecture_class_diagram, "Class diagram of the lecture's "
                        "ConnectionManager, the endpoint that calls it and the WebSockets it "
                        "holds."),
    "kit-classes": (kit_class_diagram, "Class diagram of the kit's ConnectionManager and its "
                    "one outbox per connection."),
    "sequence": (sequence_diagram, "Sequence diagram: two pages connect, alice sends a line, "
                 "the manager sends it to each connection in turn, alice leaves."),
    "fig-8-4": (clients_and_server, "Figure 8.4: six clients, each with a WebSocket open to one "
                "server, which broadcasts a message from one of them to all."),
    "fig-8-6": (_wslab("wslab.figures.workers", "architecture"),
                "Figure 8.6: two server workers, each with its own clients, joined by a message "
                "broker (Redis) that hands every line to every worker."),
    "reconnect-storm": (_wslab("wslab.figures.clients", "reconnect_storm"),
                        "Forty clients reconnecting after the server was down for six seconds: "
                        "without jitter their tries come in bursts, with jitter they spread out."),
    "one-loop": (_wslab("wslab.figures.widgets", "one_loop"),
                 "The kernel's one event loop over time: a cell that awaits lets frames and "
                 "clicks in; a cell that blocks makes them wait."),
    "message-path": (message_path, "The kit's path of one chat line, from the endpoint through "
                     "the room and the broker to each connection's writer."),
    "frame": (_chat_frame, "The layout of a WebSocket frame, filled in with the bytes of a "
              "masked text frame."),
    "connection-life": (_wslab("wslab.figures.endpoint", "connection_life"),
                        "One connection to an echo endpoint, call by call and frame by frame."),
    "two-loops": (_wslab("wslab.figures.endpoint", "two_loops"),
                  "Inside the Jupyter kernel: the main thread's event loop runs the cells, a "
                  "second thread runs uvicorn."),
    "fanout-lecture": (_fanout_half("sequential"),
                       "Timeline of the lecture's broadcast: every send waits for the one before, "
                       "so a client that does not read stalls every handler."),
    "fanout-outboxes": (_fanout_half("outboxes"),
                        "Timeline of one outbox and one writer per connection: broadcast returns "
                        "at once, and the client that does not read is dropped when its outbox "
                        "is full."),
    "hardened-loop": (_wslab("wslab.figures.hardened_loop", "hardened_loop"),
                      "Where each kind of frame goes in the hardened endpoint loop."),
}

#: Diagrams a slide can build up step by step (``@figure NAME steps=yes``): name -> the number of
#: stages; the figure's function draws stage k (1 to that number) when called with ``upto=k``.
STAGES: dict[str, int] = {"message-path": len(PATH_STEPS)}
