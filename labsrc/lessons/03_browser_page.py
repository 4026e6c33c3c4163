# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The browser page: HTML, four events, and `innerHTML`
#
# **Time:** 25 minutes (15 teaching, 10 exercises) · **Builds on:**
# [02 · The chat room](02_chat_room.ipynb): its chat server.
#
# ## Questions
#
# - What do HTML, CSS and JavaScript do in the lecture's chat page?
# - How does a page hear from a WebSocket server?
# - How can one chat message run code in everyone's page?
#
# ## Learning objectives
#
# - Read a small page: HTML, CSS and a script.
# - Name the four events of a WebSocket page.
# - Put other people's text into a page safely: `textContent` in JavaScript, `html.escape` in
#   Python.

# %% [markdown]
# ## 1. HTML, CSS and JavaScript
#
# A page is **HTML** (what is on it), **CSS** (how it looks) and **JavaScript** (what it does).
# HTML is a tree of *elements*: `<ul>` is a list of `<li>` items (`<ol>` numbers them).
# Attributes name an element (`id="text"`) or give it a style class (`class="new"`). A
# `<style>` block holds CSS rules: a selector (`body`, `#text`, `.new`), then `property: value;`
# pairs. In the `<script>`, `document.getElementById("text")` finds an element; setting its
# `textContent` puts a string in as **text**, setting its `innerHTML` parses it as **HTML**.
# Click the button; edit, run again.

# %%
from wslab.display import html_frame

html_frame("""
<style>
  body { background-color: lightblue; font-family: verdana; }
  .new { color: darkred; }
</style>
<ul>
  <li>Coffee</li>
  <li class="new">Tea</li>
</ul>
<p id="html"></p>
<p id="text"></p>
<button onclick="document.getElementById('text').textContent = Date()">What time is it?</button>
<script>
  const s = "Tom & <b>Jerry</b>";
  document.getElementById("html").innerHTML = s;     // parsed as HTML
  document.getElementById("text").textContent = s;   // shown as text
</script>
""", height=215)

# %% [markdown]
# ## 2. The lecture's page and its four events
#
# A chat server in the background, as in lesson 02, serves the lecture's page at `/lecture`:

# %%
from fastapi.responses import HTMLResponse

from wslab.chat import create_app
from wslab.display import LECTURE_PAGE, chat_frame, excerpt, lecture_page, side_by_side
from wslab.runner import BackgroundServer

server = BackgroundServer(create_app(), name="lesson03-chat").start()


@server.app.get("/lecture", response_class=HTMLResponse)
async def lecture():
    return LECTURE_PAGE


chat_frame(server, path="/lecture", name="you")

# %% [markdown]
# Type a line into it and press Enter. Its script opens `ws = new WebSocket(...)` and sets four
# functions that the browser calls:
#
# | event | called when | the lecture's page |
# |---|---|---|
# | `ws.onopen` | the connection is open | shows "Connected" |
# | `ws.onmessage` | a message came (`event.data`) | adds a line |
# | `ws.onerror` | something failed | shows "Error occurred" |
# | `ws.onclose` | the connection ended (`event.code`) | shows "Disconnected" |
#
# Here is `onmessage` (`` `${a}` `` is an f-string, `c ? a : b` is `a if c else b`):

# %%
excerpt(LECTURE_PAGE, "ws.onmessage", "messages.scrollTop")

# %% [markdown]
# ## 3. Predict: one chat line from mallory
#
# `innerHTML` gets `data.message`, whatever another student typed. Two more pages join: the
# lecture's as *victim*, the kit's as *bystander*.

# %%
side_by_side(chat_frame(server, path="/lecture", name="victim", height=400),
             chat_frame(server, name="bystander", height=400))

# %% [markdown]
# mallory, a Python client, sends a chat line with an `<img>` whose address `x` fails to load;
# its `onerror` attribute holds JavaScript. What happens?
#
# - (a) the lecture's page shows the line as text, `<img ...>` and all
# - (b) the server refuses the line, because it holds HTML
# - (c) the lecture's page runs mallory's code: it turns pink and chats in the victim's name
#
# Write your letter, run the cell, then the demo.

# %%
from wslab.checks.page import INNER_HTML, send_as

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
INNER_HTML.predict(my_prediction)

# %%
IMG = ("<img src=x onerror=\"document.body.style.background='pink';"
       " ws.send(JSON.stringify({message: 'I did not write this'}))\">")

await send_as(server, "mallory", f"Nice page! {IMG}", page="victim", settles=INNER_HTML);

# %% [markdown]
# It ran in every lecture page, yours above too, as whoever reads it. It could as well read the
# page's `?token=`, or send itself on from every page that shows it: a *worm*.
#
# ## 4. Exercise: fix the page
#
# Here is the lecture's script for one chat line, in a Python string. Fix it: nothing from
# `data` may go in with `innerHTML`, and the line still shows who, the message and the time.

# %%
### BEGIN SOLUTION
chat_line_js = """
messageDiv.className = `message ${data.client_id === clientId ? 'user' : 'other'}`;
messageDiv.textContent =
  `${data.client_id === clientId ? 'You' : 'Client ' + data.client_id}:
  ${data.message}
  ${data.timestamp}
`;
"""
### END SOLUTION
### BEGIN STUB
chat_line_js = """
messageDiv.className = `message ${data.client_id === clientId ? 'user' : 'other'}`;
messageDiv.innerHTML =
  `${data.client_id === clientId ? 'You' : 'Client ' + data.client_id}:
  ${data.message}
  <span class="timestamp">${data.timestamp}</span>
`;
"""
### END STUB

# %% [markdown]
# The check reads your script; the cell after it runs it in a page, and mallory tries again.

# %% tags=["nbval-check-output"]
from wslab.checks.page import check_chat_line_js

checked_chat_line_js = check_chat_line_js(chat_line_js)

# %%
@server.app.get("/mine", response_class=HTMLResponse)
async def my_page():
    return lecture_page(chat_line_js)  # the lecture's page, with your script


display(chat_frame(server, path="/mine", name="fixed", height=300))
await send_as(server, "mallory", f"Nice page! {IMG}", page="fixed");

# %% [markdown]
# Page not "Connected"? Its script has an error: open it in a tab (the link) and press F12.
#
# Python has the same tool as `textContent`: `html.escape` turns `<` into `&lt;` (and `>`, `&`,
# quotes likewise), so a browser shows the character instead of building an element. Here is
# step 1's string, escaped; lesson 04 does this to names that come from the network:

# %% tags=["nbval-check-output"]
import html

print(html.escape("Tom & <b>Jerry</b>"))

# %% [markdown]
# ## Clean up
#
# Stop the server: the pages above call `onclose`, and say "Disconnected".

# %% tags=["nbval-check-output"]
server.stop()

# %% [markdown]
# ## Key points
#
# - A WebSocket page lives on four events: `onopen`, `onmessage`, `onerror`, `onclose`.
# - `innerHTML` parses its string: someone else's text in it runs their code, as you.
# - Text from the network goes in as text: `textContent` in JavaScript, `html.escape` in Python.
#
# **Next:** [04 · Chat through widgets](04_widget_chat.ipynb): the whole class in one chat.
# Elective [E4 · Widgets in depth](E4_widgets_in_depth.ipynb) builds a whole chat line in Python
# with `html.escape`.
#
# The last cell sums up your work.

# %% tags=["nbval-check-output"]
from wslab.checks.page import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
