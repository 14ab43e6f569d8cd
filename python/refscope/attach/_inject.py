"""Making a running CPython execute the bootstrap file, at a safe point in its main thread.

CPython 3.14+ can be asked directly (``sys.remote_exec``, PEP 768). On 3.10-3.13 a
debugger stops the process for well under a second and calls two functions in it:

* ``strdup(code)``: a copy of a few lines of Python that the debugger's own expression
  memory would not outlive the detach;
* ``Py_AddPendingCall(PyRun_SimpleString, copy)``: the interpreter's own queue of
  functions for its main thread to run, holding the GIL, at the next check of the eval
  breaker, i.e. between two bytecodes (Python/ceval_gil.c, ``_Py_HandlePending`` /
  ``make_pending_calls``); it is documented as callable from any thread without the GIL,
  as signal handlers do.

and detaches. Nothing else of the target is touched while it is stopped: no Python code
runs until the main thread itself reaches the pending call, after the debugger is gone.
The queued code is a ``try``/``except BaseException`` around reading and ``exec``-ing the
bootstrap file in a fresh namespace, so it binds no name in ``__main__`` and nothing can
escape it (a pending call that fails with no exception set would become a SystemError
in the target's own code).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from .._errors import RefscopeError

# lldb's names on Debian (versioned) and elsewhere; the first found is used.
LLDB_NAMES = ("lldb", "lldb-19", "lldb-18", "lldb-17", "lldb-16", "lldb-15", "lldb-14")
GDB_NAMES = ("gdb",)
# Microseconds lldb gives one expression in the target before it interrupts and unwinds
# it (a call blocked on a lock the stopped process holds: e.g. malloc's).
LLDB_EXPRESSION_TIMEOUT_US = 5_000_000
SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


class AttachError(RefscopeError):
    """``refscope attach`` could not do what was asked; ``reason`` says why (one of the
    ``REASON_*`` names of :mod:`refscope.attach`), the message what to do about it."""

    def __init__(self, reason: str, message: str, debugger_output: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.debugger_output = debugger_output


@dataclass(frozen=True)
class Debugger:
    kind: str  # "lldb" or "gdb"
    path: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def find_debuggers(choice: str) -> list[Debugger]:
    """The debuggers to try, best first, for ``--debugger lldb|gdb|auto``."""
    found = []
    kinds = ("lldb", "gdb") if choice == "auto" else (choice,)
    for kind in kinds:
        for name in LLDB_NAMES if kind == "lldb" else GDB_NAMES:
            path = shutil.which(name)
            if path:
                found.append(Debugger(kind, path))
                break
    return found


def pending_call_code(bootstrap_path: str) -> str:
    """The Python source the pending call runs (``PyRun_SimpleString`` in ``__main__``)."""
    if not SAFE_PATH.match(bootstrap_path):
        raise AttachError("failed", f"unsafe characters in the channel path {bootstrap_path!r}")
    return (
        "try:\n"
        "    __import__('builtins').exec(__import__('builtins').open("
        f"'{bootstrap_path}', 'rb').read(), {{'__name__': 'refscope_attach'}})\n"
        "except BaseException:\n"
        "    pass\n"
    )


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lldb_command(debugger: Debugger, pid: int, code: str) -> list[str]:
    timeout = f"-t {LLDB_EXPRESSION_TIMEOUT_US}"
    # Casts to function types: the target needs no debug information (lldb otherwise
    # refuses "function with unknown type"). lldb stops at the first failing command and
    # detaches on exit (it never kills a process it attached to).
    commands = [
        # One expression, compiled once (the target is stopped meanwhile); a process
        # without Py_AddPendingCall fails to compile it, so nothing runs there.
        f"expr -l c {timeout} -- "
        "void *refscope_run = (void *)((int (*)(const char *))PyRun_SimpleString); "
        "void *refscope_add = (void *)((int (*)(void *, void *))Py_AddPendingCall); "
        f"void *$refscope_arg = ((void *(*)(const char *))strdup)({_c_string(code)}); "
        "(int)((int (*)(void *, void *))refscope_add)(refscope_run, $refscope_arg)",
        "p $refscope_arg",
        "process detach",
    ]
    # The target stays stopped from the attach to the detach: don't let lldb read the
    # debug information of every library first (seconds for a libpython with DWARF).
    argv = [
        debugger.path, "--batch", "--no-lldbinit",
        "-O", "settings set target.preload-symbols false",
        "-O", "settings set symbols.load-on-demand true",
        "-p", str(pid),
    ]
    for command in commands:
        argv += ["-o", command]
    return argv


def gdb_command(debugger: Debugger, pid: int, code: str) -> list[str]:
    commands = [
        "set unwindonsignal on",
        "set $refscope_apc = (void *)((int (*)(void *, void *))Py_AddPendingCall)",
        "set $refscope_run = (void *)((int (*)(const char *))PyRun_SimpleString)",
        f"set $refscope_arg = (void *)((char *(*)(const char *))strdup)({_c_string(code)})",
        "p $refscope_arg",
        "p (int)((int (*)(void *, void *))$refscope_apc)($refscope_run, $refscope_arg)",
        "detach",
    ]
    argv = [debugger.path, "-batch", "-nx", "-nw", "-p", str(pid)]
    for command in commands:
        argv += ["-ex", command]
    return argv


@dataclass(frozen=True)
class Injected:
    method: str  # "lldb-16", "gdb", "sys.remote_exec"
    free_address: int  # the strdup'ed copy the agent frees, 0 for none
    output: str


# However short the caller's --timeout, the debugger gets this long: a debugger that is
# killed while attached leaves its breakpoints (lldb's on the dynamic loader's
# rendezvous, _dl_debug_state) in the target, which then dies of SIGTRAP at its next
# dlopen. Past the limit it is interrupted (SIGINT: lldb and gdb abandon what they do and
# go on to the detach), and only killed if it still has not exited after INTERRUPT_GRACE.
MIN_DEBUGGER_SECONDS = 60.0
INTERRUPT_GRACE_SECONDS = 60.0


def _run_debugger(argv: list[str], pid: int, timeout: float) -> tuple[int | None, str]:
    """Run the debugger in its own process group and return (exit code, output); the exit
    code is None when it had to be interrupted. Never signals the target except SIGCONT,
    which a process that is not stopped ignores."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    output = ""
    try:
        output, _ = process.communicate(timeout=max(timeout, MIN_DEBUGGER_SECONDS))
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        code = None
        try:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=INTERRUPT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            output = (output or "") + (
                "\nrefscope: the debugger did not exit after SIGINT and was killed; its "
                "breakpoints may remain in the target"
            )
    finally:
        # lldb's known detach bug can leave the target in a group stop; SIGCONT is
        # ignored by a process that is not stopped.
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGCONT)
    return code, output or ""


def _address(output: str, kind: str) -> int:
    if kind == "lldb":
        match = re.search(r"\$refscope_arg = (0x[0-9a-fA-F]+)", output)
    else:
        match = re.search(r"\$\d+ = \(void \*\) (0x[0-9a-fA-F]+)", output)
    return int(match.group(1), 16) if match else 0


def _pending_call_result(output: str, kind: str) -> int | None:
    pattern = r"\(int\) \$\d+ = (-?\d+)" if kind == "lldb" else r"\$\d+ = (-?\d+)\s*$"
    matches = re.findall(pattern, output, re.M)
    return int(matches[-1]) if matches else None


PTRACE_HELP = (
    "attaching needs ptrace permission: run refscope as the target's user (or root), and "
    "where kernel.yama.ptrace_scope is 1 or 2 give the caller CAP_SYS_PTRACE (e.g. `sudo "
    "refscope attach ...`, or `docker run --cap-add=SYS_PTRACE`) or allow it for this "
    "boot with `sudo sysctl kernel.yama.ptrace_scope=0` (3 disables ptrace until reboot)"
)


def _diagnose(debugger: Debugger, pid: int, code: int | None, output: str) -> AttachError:
    def error(reason: str, message: str) -> AttachError:
        return AttachError(reason, message, output)

    lowered = output.lower()
    if "no such process" in lowered or "process not found" in lowered:
        return error("no-such-process", f"no process with id {pid}")
    if (
        "operation not permitted" in lowered
        or "permission denied" in lowered
        or ("attach failed" in lowered and "ptrace" in lowered)
    ):
        return error("permission", f"{debugger.name} may not attach to process {pid}: "
                     + PTRACE_HELP)
    if "undeclared identifier 'py_addpendingcall'" in lowered or (
        'no symbol "py_addpendingcall"' in lowered
    ):
        return error(
            "not-python",
            f"process {pid} is not a CPython process (it has no Py_AddPendingCall; "
            "refscope attach works with CPython 3.10 and later)",
        )
    if "couldn't write extended state status" in lowered:
        return error(
            "no-debugger",
            f"{debugger.name} attached to process {pid} but cannot call functions in it on "
            "this machine (\"Couldn't write extended state status\": gdb cannot restore the "
            "CPU's extended register state, e.g. AMX); install lldb instead "
            "(Debian/Ubuntu: `apt-get install lldb-16`) and pass --debugger lldb",
        )
    if "attach failed" in lowered or "unable to attach" in lowered:
        return error("permission", f"{debugger.name} could not attach to process {pid}: "
                     + PTRACE_HELP)
    if code is None:
        return error(
            "timeout",
            f"{debugger.name} did not finish within the time-out; it was interrupted, which "
            f"makes it detach, and the target {pid} left running",
        )
    return error(
        "failed",
        f"{debugger.name} could not queue the call in process {pid}; run with --verbose "
        "to see its output",
    )


def probe_gdb(debugger: Debugger, timeout: float) -> None:
    """Check, on a scratch process of our own, that gdb can call a function in a process.

    Where gdb cannot restore the CPU's extended register state after a call ("Couldn't
    write extended state status: Bad address", gdb 13 on CPUs with AMX), the interrupted
    system call of the stopped thread returns ERESTARTNOHAND (errno 514) to the program:
    a Python target dies of ``OSError: [Errno 514]``. So the target is never given to a
    gdb that fails here."""
    scratch = subprocess.Popen(
        ["sleep", "120"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        argv = [debugger.path, "-batch", "-nx", "-nw", "-p", str(scratch.pid),
                "-ex", "set unwindonsignal on", "-ex", "p (int)getpid()", "-ex", "detach"]
        returncode, output = _run_debugger(argv, scratch.pid, timeout)
    finally:
        scratch.kill()
        scratch.wait()
    if returncode is not None and re.search(rf"\$1 = {scratch.pid}\b", output):
        return
    if "couldn't write extended state status" in output.lower():
        why = ("it cannot restore the CPU's extended register state after a call (\"Couldn't "
               "write extended state status\", e.g. on CPUs with AMX)")
    else:
        why = "it could not call a function in a scratch process"
    raise AttachError(
        "no-debugger",
        f"{debugger.name} is not usable on this machine: {why}, which would break the target; "
        "install lldb instead (Debian/Ubuntu: `apt-get install lldb-16`) and pass "
        "--debugger lldb (or auto)",
        output,
    )


def inject_with_debugger(
    debugger: Debugger, pid: int, bootstrap_path: str, timeout: float
) -> Injected:
    if debugger.kind == "gdb":
        probe_gdb(debugger, timeout)
    code = pending_call_code(bootstrap_path)
    build = lldb_command if debugger.kind == "lldb" else gdb_command
    returncode, output = _run_debugger(build(debugger, pid, code), pid, timeout)
    result = _pending_call_result(output, debugger.kind)
    address = _address(output, debugger.kind)
    if returncode is not None and result == 0 and address:
        return Injected(debugger.name, address, output)
    if result is not None and result != 0:
        raise AttachError(
            "failed",
            f"process {pid}'s queue of pending calls is full (Py_AddPendingCall returned "
            f"{result}); try again in a moment",
            output,
        )
    raise _diagnose(debugger, pid, returncode, output)


def target_python_version(pid: int) -> tuple[int, int] | None:
    """The target's CPython version from its executable or libpython name, if visible."""
    names = []
    try:
        names.append(os.path.basename(os.readlink(f"/proc/{pid}/exe")))
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            names.extend(line.rsplit("/", 1)[-1] for line in maps if "libpython" in line)
    except OSError:
        pass
    for name in names:
        match = re.match(r"(?:lib)?python(\d)\.(\d+)", name)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def remote_exec_available(pid: int) -> bool:
    """``sys.remote_exec`` (PEP 768) works when caller and target are both 3.14+."""
    if not hasattr(sys, "remote_exec"):
        return False
    version = target_python_version(pid)
    return version is not None and version >= (3, 14)


def inject_with_remote_exec(pid: int, wrapper_path: str) -> Injected:
    """CPython 3.14+: the interpreter runs the file at its next safe point in the main
    thread (untested here: no CPython 3.14 is installable on the development machines)."""
    started = time.perf_counter()
    try:
        sys.remote_exec(pid, wrapper_path)  # type: ignore[attr-defined]
    except ProcessLookupError:
        raise AttachError("no-such-process", f"no process with id {pid}") from None
    except PermissionError as error:
        message = f"sys.remote_exec({pid}): {error}; {PTRACE_HELP}"
        raise AttachError("permission", message) from None
    except (RuntimeError, OSError) as error:
        raise AttachError("failed", f"sys.remote_exec({pid}) failed: {error}") from None
    elapsed = time.perf_counter() - started
    return Injected("sys.remote_exec", 0, f"sys.remote_exec returned after {elapsed:.3f} s")
