"""Elective E4's answers: a chat line as safe HTML, and a ChatWidget that marks mentions of its
own participant."""

import html
import re

from wslab.widgets import ChatWidget


def message_line(data, me):
    """One message from the server as a line of HTML, in the lecture's layout, with every
    value from the message escaped."""
    text = html.escape(data["message"])
    if "type" in data:                                   # the server's own message
        return f'<div class="message system">{text}</div>'
    mine = data["client_id"] == me
    who = "You" if mine else "Client " + html.escape(data["client_id"])
    time = html.escape(data["timestamp"])
    return (f'<div class="message {"user" if mine else "other"}">{who}: {text} '
            f'<span class="timestamp">{time}</span></div>')


class MentionChat(ChatWidget):
    """A ChatWidget that marks every ``@name`` of its own participant in the log."""

    def render_entry(self, entry):
        line = super().render_entry(entry)   # the text in it is escaped already
        # A name is letters, digits, _ and -: "@kimberly" and "@kim-lee" are someone else.
        mention = re.compile("@" + re.escape(self.client_id) + r"(?![\w-])")
        return mention.sub(lambda found: f"<mark>{found.group()}</mark>", line)
