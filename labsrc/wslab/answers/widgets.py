"""Core lesson 04's answer: a ChatWidget that shows who is online."""

import html

import ipywidgets as widgets

from wslab.widgets import ChatWidget


class OnlineChat(ChatWidget):
    """A ChatWidget with one more line, under its header: who is online."""

    def __init__(self, url, client_id, **kwargs):
        super().__init__(url, client_id, **kwargs)
        self.online = set()                  # the names online, as the server has told us
        self.online_html = widgets.HTML()
        # The chat's parts are (header, log, input row): the new line goes under the header.
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def handle(self, message):
        super().handle(message)              # keep the log and the count working
        kind = message.get("type")
        if kind == "welcome":
            # Everyone connected now, this widget included. It comes again after every
            # reconnect, so it replaces the set: whoever left meanwhile is gone.
            self.online = set(message["online"])
        elif kind == "join":
            self.online.add(message["user"])
        elif kind == "disconnect":
            self.online.discard(message["user"])  # discard: no KeyError for a name never seen
        self.show_online()

    def show_online(self):
        names = ", ".join(html.escape(name) for name in sorted(self.online))
        self.online_html.value = f"Online: {names}"
