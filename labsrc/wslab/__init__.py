"""wslab: the FastAPI WebSockets workshop kit.

One module per idea, each matching a lesson:

- ``wslab.lecture``  the lecture's ConnectionManager and endpoint, as written (to compare against)
- ``wslab.manager``  a ConnectionManager with the lecture's API that survives bad peers
- ``wslab.envelope`` the chat's wire format: what a client may send, what the server sends back
- ``wslab.chat``     ``create_app()``: the chat server the lessons build and the classroom runs
- ``wslab.runner``   ``BackgroundServer``: uvicorn in a thread, for notebooks and tests
- ``wslab.serving``  the uvicorn settings every wslab server uses, and ``python -m wslab serve``
"""

__version__ = "0.1.0"
