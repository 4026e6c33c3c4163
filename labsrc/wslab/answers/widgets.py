"""Lesson 06's answers: a ChatWidget that shows who is online, and one that marks mentions."""

import html
import re

import ipywidgets as widgets

from wslab.widgets import ChatWidget


class OnlineChat(ChatWidget):
    """A ChatWidget with one more line, under its header: who is online."""

    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()                  # the names online, as the server has told us
        self.online_html = widgets.HTML()
        # The chat's parts are (header, log, input row): the new line goes under the header.
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def handle(self, message):
        super().handle(message)              # keep the log and the count working
        kind, user = message.get("type"), message.get("user")
        if kind == "welcome" and isinstance(message.get("online"), list):
            # Everyone connected now, this widget included. It comes again after every
            # reconnect, so it replaces the set: who left meanwhile is gone.
            self.online = {str(name) for name in message["online"]}
        elif kind == "join" and isinstance(user, str):
            self.online.add(user)
        elif kind == "disconnect" and isinstance(user, str):
            self.online.discard(user)        # discard: no KeyError for a name never seen
        else:
            return
        self.show_online()

    def show_online(self):
        names = ", ".join(html.escape(name) for name in sorted(self.online))
        self.online_html.value = (
            '<div style="font-size: 12px; color: #4a5058; padding: 0 2px">'
            f'Online: {names or "(waiting for the server)"}</div>')


class MentionChat(ChatWidget):
    """A ChatWidget that marks every ``@name`` of its own participant in the log."""

    def render_entry(self, entry):
        line = super().render_entry(entry)   # the text in it is escaped already
        # A name is letters, digits, _ and -: "@kimberly" and "@kim-lee" are someone else.
        mention = re.compile("@" + re.escape(self.name) + r"(?![\w-])")
        return mention.sub(lambda found: f"<mark>{found.group()}</mark>", line)
