"""Lesson 03's answer: the lecture page's chat line made safe.

:data:`CHAT_LINE_JS` is the lecture page's script for a chat line
(:data:`wslab.display.LECTURE_CHAT_LINE`) with the smallest fix: ``textContent`` for
``innerHTML``, and the time as plain text at the end of the line instead of in a ``<span>`` (the
lesson's solution shows the same; a test checks that they agree). Nothing from the message is
ever parsed as HTML. Giving the time its span back, as an element made with
``document.createElement``, is the exercise's extra step.
"""

CHAT_LINE_JS = """
messageDiv.className = `message ${data.client_id === clientId ? 'user' : 'other'}`;
messageDiv.textContent =
  `${data.client_id === clientId ? 'You' : 'Client ' + data.client_id}:
  ${data.message}
  ${data.timestamp}
`;
"""
