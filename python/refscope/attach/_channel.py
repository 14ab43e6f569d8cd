"""Messages between ``refscope attach`` and its agent: JSON, each after a 4-byte length."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

# The largest message either side accepts (an HTML report of 1,000 groups is a few MB).
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


class ChannelClosed(Exception):
    """The other side closed the connection before a whole message arrived."""


def send(connection: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    connection.sendall(struct.pack("!I", len(data)) + data)


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = connection.recv(min(size, 1 << 20))
        if not chunk:
            raise ChannelClosed("the connection closed in the middle of a message")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(connection: socket.socket) -> dict[str, Any]:
    (size,) = struct.unpack("!I", _receive_exactly(connection, 4))
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes is larger than {MAX_MESSAGE_BYTES}")
    message = json.loads(_receive_exactly(connection, size).decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message
