"""The first code ``refscope attach`` runs in the target process (stdlib only).

The caller writes this file's source, followed by one call of :func:`main` with the
channel's path, the token and its own refscope version, into a directory only it can
read, and has the target execute it in a fresh namespace: from a pending call
(``Py_AddPendingCall``, CPython 3.10-3.13) or ``sys.remote_exec`` (3.14+), so it runs in
the main thread, holding the GIL, between two bytecodes. It only starts a thread and
returns, so the main thread goes back to its work at once; nothing here may raise (an
exception escaping a pending call would surface in whatever code the main thread runs).
The thread connects to the caller, then imports the target's own refscope: a missing or
different refscope is reported to the caller, not raised.
"""


def main(socket_path, token, caller_version):
    try:
        import threading

        threading.Thread(
            target=_work,
            args=(socket_path, token, caller_version),
            name="refscope-attach",
            daemon=True,
        ).start()
    except BaseException:
        pass


def _send(connection, message):
    import json
    import struct

    data = json.dumps(message).encode("utf-8")
    connection.sendall(struct.pack("!I", len(data)) + data)


def _work(socket_path, token, caller_version):
    import os
    import socket
    import sys

    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(60)
        connection.connect(socket_path)
    except BaseException:
        return  # the caller is gone (it timed out): nothing to do, nothing changed
    try:
        hello = {
            "token": token,
            "pid": os.getpid(),
            "python": ".".join(str(part) for part in sys.version_info[:3]),
            "executable": sys.executable,
        }
        try:
            import refscope
        except BaseException as error:
            hello.update(
                ok=False,
                error="refscope-missing",
                message=type(error).__name__ + ": " + str(error),
                sys_path=[str(entry) for entry in sys.path],
            )
            _send(connection, hello)
            return
        version = getattr(refscope, "__version__", None)
        hello["refscope"] = str(version)
        hello["refscope_path"] = str(getattr(refscope, "__file__", "?"))
        if version != caller_version:
            hello.update(ok=False, error="version-mismatch")
            _send(connection, hello)
            return
        from refscope.attach import _agent

        _agent.serve(connection, hello)
    except BaseException:
        pass
    finally:
        try:
            connection.close()
        except BaseException:
            pass
