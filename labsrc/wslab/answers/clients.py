"""Lesson 05's answer to its third exercise; the first two are the kit's own, in wslab.client."""

import html


def message_line(data: dict, me: str) -> str:
    """One message from the server as a line of HTML, as the lecture's page builds it, with
    every value escaped."""
    text = html.escape(str(data.get("message", "")))
    if "type" in data:                              # a message from the server itself
        return f'<div class="message system">{text}</div>'
    sender = str(data.get("client_id", ""))
    mine = sender == me
    who = html.escape("You" if mine else f"Client {sender}")
    timestamp = html.escape(str(data.get("timestamp", "")))
    return (f'<div class="message {"user" if mine else "other"}">{who}: {text} '
            f'<span class="timestamp">{timestamp}</span></div>')
