"""The lecture's chat server, exactly as the slides show it, kept to compare against.

Core lesson 02 watches this ``ConnectionManager`` fail, elective E2 hardens the endpoint, and the
benchmark measures both against ``wslab.manager``. Do not fix anything here: the flaws are the
lesson. (What changed from the slides: the endpoint sits inside ``create_lecture_app()`` so that
every test and notebook gets a fresh manager instead of one shared module-level global, and a
lesson can hand it a manager of its own to watch the same endpoint with a better one.)

Its flaws, found in core lesson 02 and elective E2:

- ``broadcast`` awaits each send in turn, so one client that stops reading stalls everyone;
- a send to a closed connection raises inside the *sender's* handler, which then removes the
  wrong client;
- ``disconnect`` raises ``ValueError`` when called twice;
- only ``WebSocketDisconnect`` is caught: a binary frame (``KeyError``) or a JSON list
  (``AttributeError``) kills the handler and leaves a ghost in ``active_connections``;
- the client's JSON is merged into the outgoing message, so a client can set ``"type"`` and
  forge a system message.
"""

import json
from datetime import datetime
from typing import List

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


class ConnectionManager:
    def __init__(self):
        self.active_connections: List[WebSocket] = []
        self.connection_count = 0

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)
        self.connection_count += 1
        print(f"New connection established. Total connections: {self.connection_count}")

    def disconnect(self, websocket: WebSocket):
        self.active_connections.remove(websocket)
        self.connection_count -= 1
        print(f"Connection closed. Total connections: {self.connection_count}")

    async def broadcast(self, message: str):
        print(f"Broadcasting message: {message}")
        for connection in self.active_connections:
            await connection.send_text(message)


def create_lecture_app(manager=None) -> FastAPI:
    """The lecture's app: ``GET /`` and the chat endpoint ``/ws/{client_id}``, unchanged.

    ``manager`` is the ConnectionManager the endpoint uses: the lecture's own by default.
    """
    app = FastAPI()
    manager = manager if manager is not None else ConnectionManager()
    app.state.manager = manager

    @app.get("/")
    async def get():
        return {"message": "WebSocket Server is running"}

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: str):
        await manager.connect(websocket)
        print(f"Client {client_id} connected")

        try:
            while True:
                data = await websocket.receive_text()

                try:
                    message_data = json.loads(data)
                    timestamp = datetime.now().strftime("%H:%M:%S")
                    message_data.update({
                        "client_id": client_id,
                        "timestamp": timestamp
                    })
                    print(f"Received from client {client_id}: {message_data['message']}")
                    await manager.broadcast(json.dumps(message_data))

                except json.JSONDecodeError:
                    print(f"Received plain text from client {client_id}: {data}")
                    await manager.broadcast(f"Client {client_id}: {data}")

        except WebSocketDisconnect:
            manager.disconnect(websocket)
            disconnect_message = f"Client #{client_id} left the chat"
            print(disconnect_message)
            await manager.broadcast(json.dumps({
                "client_id": "system",
                "message": disconnect_message,
                "timestamp": datetime.now().strftime("%H:%M:%S"),
                "type": "disconnect"
            }))

    return app
