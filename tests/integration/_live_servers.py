"""Helpers for the endpoint tests: a real HTTP client, free ports, servers in subprocesses."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SERVER = REPO / "examples" / "tornado_server.py"


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             method: str = "GET", timeout: float = 60) -> Reply:
    """One request over a fresh connection to 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def free_socket() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 at a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)  # event loops accept without blocking
    return sock


class ExampleServer:
    """examples/tornado_server.py in a subprocess on a free port."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLE_SERVER), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            error = self.process.stderr.read()
            raise RuntimeError(f"example server did not start: {line!r} {error}")
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        return http_get(self.port, path, headers, method)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
