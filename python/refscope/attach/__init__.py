"""Run refscope inside a running Python process and bring the result back.

>>> import refscope.attach
>>> result = refscope.attach.attach(pid, "collect")      # doctest: +SKIP
>>> print(result.body)                                    # doctest: +SKIP

``attach(pid, action)`` makes the target run refscope's bootstrap in its main thread at a
safe point (between two bytecodes, holding the GIL): with ``sys.remote_exec`` on CPython
3.14+, otherwise by a debugger (lldb, or gdb) that queues a pending call
(``Py_AddPendingCall``) and detaches at once. The bootstrap starts one thread that
imports the target's own refscope (it must be installed there, same version as the
caller's), does the work and sends the result back over a Unix socket in a directory
only the caller can read, proving itself with a random token. The target keeps serving
meanwhile, and the garbage collector's state is restored afterwards. See
``docs/attach.md``.

Actions: ``"collect"`` (a full collection analysed, as :func:`refscope.collect`),
``"monitor"`` (a :class:`refscope.Monitor` for ``seconds``), ``"top"`` (objects tracked
by gc counted by type), ``"snapshot"`` (:func:`refscope.snapshot`, written to
``output``). Failures raise :class:`AttachError` whose ``reason`` is one of
the ``REASON_*`` constants.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _channel
from ._inject import (
    PTRACE_HELP,
    AttachError,
    find_debuggers,
    inject_with_debugger,
    inject_with_remote_exec,
    pending_call_code,
    remote_exec_available,
)

__all__ = [
    "ACTIONS",
    "AttachError",
    "AttachResult",
    "REASON_FAILED",
    "REASON_NO_DEBUGGER",
    "REASON_NO_SUCH_PROCESS",
    "REASON_NOT_AVAILABLE",
    "REASON_NOT_PYTHON",
    "REASON_PERMISSION",
    "REASON_REFSCOPE_MISSING",
    "REASON_TIMEOUT",
    "REASON_VERSION_MISMATCH",
    "attach",
]

ACTIONS = ("collect", "monitor", "top", "snapshot")
FORMATS = {
    "collect": ("text", "json", "html"),
    "monitor": ("text", "json"),
    "top": ("text", "json"),
    # refscope's compact format (refscope.load reads it), or Chrome DevTools'.
    "snapshot": ("refscope", "heapsnapshot"),
}

REASON_NO_SUCH_PROCESS = "no-such-process"
REASON_NOT_PYTHON = "not-python"
REASON_PERMISSION = "permission"
REASON_NO_DEBUGGER = "no-debugger"
REASON_REFSCOPE_MISSING = "refscope-missing"
REASON_VERSION_MISMATCH = "version-mismatch"
REASON_TIMEOUT = "timeout"
REASON_NOT_AVAILABLE = "not-available"
REASON_FAILED = "failed"

_BOOTSTRAP_SOURCE = Path(__file__).with_name("_bootstrap.py")
_CAP_SYS_PTRACE = 19  # bit in /proc/PID/status CapEff (linux/capability.h)


@dataclass(frozen=True)
class AttachResult:
    """What the target sent back."""

    pid: int
    action: str
    method: str
    """How the bootstrap got in: ``"lldb-16"``, ``"gdb"`` or ``"sys.remote_exec"``."""
    python: str
    """The target's CPython version."""
    executable: str
    body: str
    """The report, in the format asked for."""
    details: dict[str, Any] = field(default_factory=dict)
    """Counts from the target (``cycles``, ``groups``, ``objects``, ``seconds`` of work...)."""
    restored: list[str] = field(default_factory=list)
    """gc state the agent had to put back (empty unless something went wrong)."""
    waited_seconds: float = 0.0
    """From the start of the attach until the target's main thread ran the bootstrap."""


def _process_status(pid: int) -> dict[str, str]:
    status = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, _, value = line.partition(":")
                status[key] = value.strip()
    except OSError:
        pass
    return status


def _has_cap_sys_ptrace() -> bool:
    capabilities = _process_status(os.getpid()).get("CapEff", "0")
    try:
        return bool(int(capabilities, 16) >> _CAP_SYS_PTRACE & 1)
    except ValueError:
        return False


def _ptrace_scope() -> int | None:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return None


def check_target(pid: int) -> None:
    """Fail early, with the reason, when ``pid`` cannot be attached to."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise ValueError(f"a process id must be a positive int, not {pid!r}")
    if pid == os.getpid():
        raise ValueError("refscope attach cannot attach to its own process")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(REASON_NO_SUCH_PROCESS, f"no process with id {pid}") from None
    except PermissionError:
        raise AttachError(
            REASON_PERMISSION, f"process {pid} belongs to another user; " + PTRACE_HELP
        ) from None
    status = _process_status(pid)
    if status.get("State", "").startswith("Z"):
        raise AttachError(REASON_NO_SUCH_PROCESS, f"process {pid} has exited (a zombie)")
    privileged = os.geteuid() == 0 or _has_cap_sys_ptrace()
    uids = status.get("Uid", "").split()
    if not privileged and uids and any(int(uid) != os.geteuid() for uid in uids[:3]):
        raise AttachError(
            REASON_PERMISSION,
            f"process {pid} runs as uid {uids[0]}, refscope as uid {os.geteuid()}; "
            + PTRACE_HELP,
        )
    scope = _ptrace_scope()
    if scope == 3:
        raise AttachError(
            REASON_PERMISSION,
            "ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3, until reboot); "
            + PTRACE_HELP,
        )
    if scope == 2 and not _has_cap_sys_ptrace():
        raise AttachError(
            REASON_PERMISSION,
            "kernel.yama.ptrace_scope = 2 allows only CAP_SYS_PTRACE to attach; " + PTRACE_HELP,
        )


class _Channel:
    """A private directory (0700) with the listening socket and the bootstrap (0600)."""

    def __init__(self, pid: int, caller_version: str) -> None:
        self.token = secrets.token_hex(16)
        self.directory = tempfile.mkdtemp(prefix="refscope-attach-")
        self.listener: socket.socket | None = None
        try:
            self.socket_path = os.path.join(self.directory, "agent.sock")
            self.bootstrap_path = os.path.join(self.directory, "bootstrap.py")
            self.wrapper_path = os.path.join(self.directory, "remote_exec.py")
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.socket_path)
            self.listener.listen(1)
            source = _BOOTSTRAP_SOURCE.read_text(encoding="utf-8")
            call = f"\nmain({self.socket_path!r}, {self.token!r}, {caller_version!r})\n"
            self._write(self.bootstrap_path, source + call)
            self._write(self.wrapper_path, pending_call_code(self.bootstrap_path))
            os.chmod(self.socket_path, 0o600)
            self._share_with(pid)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _write(path: str, text: str) -> None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)

    def _share_with(self, pid: int) -> None:
        """Run as root for another user's process: the directory becomes that user's (so
        the target can read the bootstrap and connect), still closed to everyone else."""
        if os.geteuid() != 0:
            return
        uids = _process_status(pid).get("Uid", "").split()
        gids = _process_status(pid).get("Gid", "").split()
        if not uids or int(uids[1]) == 0:
            return
        uid, gid = int(uids[1]), int(gids[1]) if gids else -1
        for path in (self.directory, self.socket_path, self.bootstrap_path, self.wrapper_path):
            os.chown(path, uid, gid)

    def accept(self, pid: int, deadline: float) -> socket.socket:
        assert self.listener is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.listener.settimeout(remaining)
            connection, _ = self.listener.accept()
            if _peer_pid(connection) in (pid, None):
                return connection
            connection.close()  # not the target: ignore it

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _peer_pid(connection: socket.socket) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[0]


def _refscope_version() -> str:
    import refscope

    return refscope.__version__


def _hello_error(pid: int, hello: dict[str, Any], version: str) -> AttachError:
    executable = hello.get("executable") or "python"
    python = hello.get("python", "?")
    if hello.get("error") == REASON_REFSCOPE_MISSING:
        return AttachError(
            REASON_REFSCOPE_MISSING,
            f"refscope is not installed in process {pid}'s environment ({executable}, "
            f"Python {python}: {hello.get('message', '')}); install refscope {version} "
            f"there, e.g. `{executable} -m pip install refscope=={version}`; the target "
            "was not changed",
        )
    if hello.get("error") == REASON_VERSION_MISMATCH:
        return AttachError(
            REASON_VERSION_MISMATCH,
            f"process {pid} has refscope {hello.get('refscope')} ({hello.get('refscope_path')}), "
            f"this is refscope {version}: run the target environment's own refscope "
            f"(`{executable} -m refscope attach ...`) or install refscope {version} there; "
            "the target was not changed",
        )
    return AttachError(REASON_FAILED, f"process {pid}: {hello.get('message', hello)}")


def attach(
    pid: int,
    action: str = "collect",
    *,
    seconds: float | None = None,
    format: str = "text",
    color: bool = False,
    max_objects: int = 12,
    frame_locals: bool = True,
    limit: int = 25,
    timeout: float = 30.0,
    debugger: str = "auto",
    output: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> AttachResult:
    """Run ``action`` inside process ``pid`` and return what it sent back.

    ``format``: ``"text"``, ``"json"`` (or ``"html"`` for ``collect``); ``color`` and
    ``max_objects`` shape the text report, ``frame_locals`` (``collect``, ``monitor``)
    includes frames' local variables, ``limit`` is the number of types ``top`` lists
    (0: all), ``seconds`` how long ``monitor`` samples. ``timeout`` bounds the wait for
    the target's main thread to reach a safe point once the call is queued (the debugger
    itself gets at least 60 s, and is interrupted, never killed while attached); the work
    then gets as long again, plus ``seconds`` and 10 minutes. ``debugger``: ``"auto"``
    (``sys.remote_exec`` on 3.14+, else lldb, else gdb), ``"lldb"`` or ``"gdb"``.
    ``output``: where ``snapshot`` writes its file (``format`` ``"refscope"``, read by
    :func:`refscope.load`, or ``"heapsnapshot"``). ``log`` receives progress lines
    and the debugger's output.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if format not in FORMATS[action]:
        raise ValueError(
            f"{action} can report as {', '.join(FORMATS[action])}, not {format!r}"
        )
    if action == "snapshot" and output is None:
        raise ValueError("snapshot needs output=PATH")
    if action == "monitor" and (seconds is None or not seconds > 0):
        raise ValueError("monitor needs seconds > 0")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, not {timeout!r}")
    if debugger not in ("auto", "lldb", "gdb"):
        raise ValueError(f"debugger must be auto, lldb or gdb, not {debugger!r}")
    say = log or (lambda _message: None)
    check_target(pid)
    version = _refscope_version()
    started = time.monotonic()
    channel = _Channel(pid, version)
    try:
        injected = _inject(pid, channel, debugger, timeout, say)
        say(f"queued the bootstrap with {injected.method}; waiting for the main thread")
        try:
            # The main thread gets `timeout` from the moment the call is queued.
            connection = channel.accept(pid, time.monotonic() + timeout)
        except TimeoutError:
            raise AttachError(
                REASON_TIMEOUT,
                f"process {pid} did not reach a safe point within {timeout:g} s: its main "
                "thread has run no Python code since (it is in C code: a sleep, a lock, a "
                "system call, or an event loop idle waiting for I/O). Nothing ran in it and "
                "nothing in it was changed: the queued call does nothing when the main "
                "thread next runs Python code. Try again while it is busy (send it a "
                "request), or with a longer --timeout",
            ) from None
        waited = time.monotonic() - started
        with connection:
            connection.settimeout(max(timeout, 10.0))
            hello = _channel.receive(connection)
            if not hmac.compare_digest(str(hello.get("token", "")), channel.token):
                raise AttachError(REASON_FAILED, "the agent's token did not match; ignored")
            if not hello.get("ok"):
                raise _hello_error(pid, hello, version)
            say(
                f"the bootstrap runs in process {pid} (Python {hello.get('python')}, "
                f"refscope {hello.get('refscope')}) after {waited:.2f} s"
            )
            options = {
                "format": format,
                "color": bool(color),
                "max_objects": int(max_objects),
                "frame_locals": bool(frame_locals),
                "limit": int(limit),
                "seconds": seconds,
            }
            if action == "snapshot":
                # The target writes into the private directory; moved to `output` after.
                options["path"] = os.path.join(channel.directory, "snapshot.data")
            _channel.send(
                connection,
                {"action": action, "options": options, "free_address": injected.free_address},
            )
            connection.settimeout(max(timeout, 10.0) + (seconds or 0.0) + 600.0)
            result = _channel.receive(connection)
        if result.get("ok") and action == "snapshot":
            assert output is not None
            shutil.move(options["path"], os.fspath(output))
    finally:
        channel.close()
    if not result.get("ok"):
        reason = result.get("error", REASON_FAILED)
        raise AttachError(reason, f"process {pid}: {result.get('message', 'the agent failed')}")
    body = result.pop("body", "")
    restored = list(result.pop("restored", []))
    result.pop("ok", None)
    return AttachResult(
        pid=pid,
        action=action,
        method=injected.method,
        python=str(hello.get("python")),
        executable=str(hello.get("executable")),
        body=body,
        details=result,
        restored=restored,
        waited_seconds=waited,
    )


def _inject(
    pid: int, channel: _Channel, choice: str, timeout: float, say: Callable[[str], None]
) -> Any:
    if choice == "auto" and remote_exec_available(pid):
        say("using sys.remote_exec (CPython 3.14+)")
        return inject_with_remote_exec(pid, channel.wrapper_path)
    debuggers = find_debuggers(choice)
    if not debuggers:
        wanted = {"auto": "lldb or gdb", "lldb": "lldb", "gdb": "gdb"}[choice]
        raise AttachError(
            REASON_NO_DEBUGGER,
            f"no debugger found: refscope attach needs {wanted} on PATH to reach a CPython "
            "3.10-3.13 process (Debian/Ubuntu: `apt-get install lldb-16`; gdb works where it "
            "can call functions in the target)",
        )
    last: AttachError | None = None
    for candidate in debuggers:
        say(f"attaching to {pid} with {candidate.path}")
        try:
            injected = inject_with_debugger(candidate, pid, channel.bootstrap_path, timeout)
            say(injected.output.rstrip())
            return injected
        except AttachError as error:
            say(error.debugger_output.rstrip())
            if error.reason != REASON_NO_DEBUGGER:
                raise
            last = error  # this debugger cannot call functions here: try the next one
    assert last is not None
    raise last
