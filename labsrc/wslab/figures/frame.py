"""The layout of a WebSocket frame (RFC 6455, section 5.2), drawn bit by bit.

:func:`frame_layout` draws the two fixed header bytes bit by bit and the three parts that
follow them. Given the bytes of a real frame, it fills in that frame's bits and bytes, so a
student can hold the picture against the frame their own encoder produced.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from wslab.protocol import Opcode, decode_frame

# One colour per field, light enough for black text on top.
COLORS = {
    "FIN": "#9ecae1",
    "RSV": "#d9d9d9",
    "opcode": "#fdd0a2",
    "MASK": "#fcae91",
    "len": "#a1d99b",
    "ext": "#c7e9c0",
    "key": "#fcbba1",
    "payload": "#dadaeb",
}

#: The fields of bytes 0 and 1: (label, first bit, number of bits, colour key), left to right.
HEADER_FIELDS = [
    ("FIN", 0, 1, "FIN"), ("RSV1", 1, 1, "RSV"), ("RSV2", 2, 1, "RSV"), ("RSV3", 3, 1, "RSV"),
    ("opcode", 4, 4, "opcode"), ("MASK", 8, 1, "MASK"), ("payload len", 9, 7, "len"),
]

NOTES = [
    ("FIN", "1 on the last (or only) frame of a message, 0 when more pieces follow."),
    ("RSV1-3", "0, unless an extension agreed in the handshake uses them (compression uses RSV1)."),
    ("opcode", "0x1 text, 0x2 binary, 0x0 continuation; 0x8 close, 0x9 ping, 0xA pong."),
    ("MASK", "1 on every frame from client to server, then a 4-byte masking key follows; "
             "0 from server to client."),
    ("payload len", "0-125: the length itself. 126: a 16-bit length follows. "
                    "127: a 64-bit length follows. Both big-endian."),
]


def _box(ax, x: float, y: float, width: float, height: float, color: str, **kw) -> None:
    ax.add_patch(Rectangle((x, y), width, height, facecolor=color, edgecolor="#333333",
                           linewidth=1.0, **kw))


def _hex(data: bytes, limit: int) -> str:
    shown = " ".join(f"{byte:02x}" for byte in data[:limit])
    return shown + (" …" if len(data) > limit else "")


def frame_layout(example: bytes | None = None, *, title: str | None = None) -> Figure:
    """Draw the frame layout; with ``example`` (a whole frame's bytes), fill in its values."""
    decoded = decode_frame(example) if example is not None else None
    if example is not None and decoded is None:
        raise ValueError("example must hold a whole frame")

    fig = Figure(figsize=(11, 5.6), dpi=100)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.90))
    ax.set_xlim(-0.2, 16.2)
    ax.set_ylim(-3.2, 5.9)
    ax.axis("off")
    fig.suptitle(title or ("A WebSocket frame" if example is None else
                           f"This frame, field by field ({len(example)} bytes)"),
                 fontsize=14, fontweight="bold", y=0.97)

    # Bytes 0 and 1, bit by bit.
    for byte in (0, 1):
        left = 8 * byte
        ax.annotate("", xy=(left + 0.05, 5.35), xytext=(left + 7.95, 5.35),
                    arrowprops=dict(arrowstyle="|-|", color="#555555", linewidth=1))
        ax.text(left + 4, 5.55, f"byte {byte}", ha="center", va="bottom", fontsize=11)
        for bit in range(8):
            ax.text(left + bit + 0.5, 4.85, str(7 - bit), ha="center", va="center",
                    fontsize=8, color="#777777")
    for label, first, width, color in HEADER_FIELDS:
        _box(ax, first, 3.4, width, 1.2, COLORS[color])
        size = 10 if width > 1 else 8.5
        ax.text(first + width / 2, 4.0, label, ha="center", va="center", fontsize=size,
                fontweight="bold", rotation=0 if width > 1 or len(label) <= 4 else 90)

    # The bits themselves: a real frame's 0s and 1s, or what each field holds.
    if example is not None:
        bits = f"{example[0]:08b}{example[1]:08b}"
        for index, bit in enumerate(bits):
            _box(ax, index, 2.7, 1, 0.7, "white")
            ax.text(index + 0.5, 3.05, bit, ha="center", va="center", fontsize=12,
                    family="monospace")
        frame, _ = decoded
        seven = example[1] & 0x7F
        length_text = (f"= {seven} bytes" if seven <= 125 else
                       f"= {seven}: a {16 if seven == 126 else 64}-bit length follows")
        meanings = [
            (0, 1, "last" if frame.fin else "more"),
            (4, 4, f"0x{frame.opcode:X} = {frame.opcode.name}"),
            (8, 1, "masked" if example[1] & 0x80 else "not masked"),
            (9, 7, length_text),
        ]
        for first, width, text in meanings:
            ax.text(first + width / 2, 2.45, text, ha="center", va="top", fontsize=9,
                    color="#333333")
    else:
        for first, width, text in [(0, 1, "1 bit"), (1, 3, "1 bit each"), (4, 4, "4 bits"),
                                   (8, 1, "1 bit"), (9, 7, "7 bits")]:
            ax.text(first + width / 2, 3.05, text, ha="center", va="center", fontsize=9,
                    color="#444444")

    # What follows the two bytes.
    parts = _variable_parts(example)
    x = 0.0
    for label, size_text, width, color, content in parts:
        _box(ax, x, 0.2, width, 1.3, COLORS[color])
        ax.text(x + width / 2, 1.12, label, ha="center", va="center", fontsize=10,
                fontweight="bold")
        ax.text(x + width / 2, 0.62, content if content is not None else size_text,
                ha="center", va="center", fontsize=9,
                family="monospace" if content is not None else None)
        if content is not None:
            ax.text(x + width / 2, 0.05, size_text, ha="center", va="top", fontsize=8.5,
                    color="#444444")
        x += width
    ax.text(0, 1.75, "then, after byte 1:", ha="left", va="center", fontsize=10,
            style="italic", color="#444444")

    # The rules, in words.
    y = -0.7
    for name, rule in NOTES:
        ax.text(0, y, name, ha="left", va="center", fontsize=9.5, fontweight="bold")
        ax.text(2.2, y, rule, ha="left", va="center", fontsize=9.5)
        y -= 0.5
    return fig


def _variable_parts(example: bytes | None) -> list[tuple[str, str, float, str, str | None]]:
    """(label, size text, width in bit columns, colour key, content or None) of each part."""
    if example is None:
        return [
            ("extended payload length", "0, 2 or 8 bytes", 5.0, "ext", None),
            ("masking key", "4 bytes if MASK = 1", 3.5, "key", None),
            ("payload data", "payload len bytes (XORed with the key if masked)", 7.5,
             "payload", None),
        ]
    seven = example[1] & 0x7F
    ext_size = {126: 2, 127: 8}.get(seven, 0)
    masked = bool(example[1] & 0x80)
    offset = 2
    ext = example[offset:offset + ext_size]
    offset += ext_size
    key = example[offset:offset + 4] if masked else b""
    offset += len(key)
    frame, used = decode_frame(example)  # type: ignore[misc]  # checked by the caller
    payload = example[offset:used]
    parts: list[tuple[str, str, float, str, str | None]] = []
    parts.append(("extended payload length",
                  f"{ext_size} bytes" + (f" = {len(frame.payload)}" if ext_size else ""),
                  4.0, "ext", _hex(ext, 8) if ext_size else "(none)"))
    parts.append(("masking key", "4 bytes" if masked else "0 bytes", 3.5, "key",
                  _hex(key, 4) if masked else "(none)"))
    what = f"{len(payload)} bytes"
    if masked:
        what += ", masked"
    try:
        text = frame.payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and frame.opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG):
        shown = text if len(text) <= 28 else text[:27] + "…"
        what += f": {shown!r}" + (" once unmasked" if masked else "")
    parts.append(("payload data", what, 8.5, "payload", _hex(payload, 8)))
    return parts
