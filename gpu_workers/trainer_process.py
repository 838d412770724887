"""The trainer as a child process: started in its own process group, followed, and stopped for sure.

Events come through a JSON-lines file in the job's work directory (not a pipe: under ``torchrun`` the
trainer runs in grandchildren that inherit no file descriptors). stdout and stderr are kept as the last
lines of output, for the reason of a failure. If the worker dies, even by SIGKILL, the kernel signals
the trainer (PR_SET_PDEATHSIG); a stop kills the process group and every descendant (torchrun starts
its ranks in sessions of their own).
"""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import subprocess
import threading
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1
TAIL_LINES = 50
KILL_GRACE_SECONDS = 2.0
PID_FILE = "trainer.pid"
SIGNAL_HINTS = {
    signal.SIGKILL: "the kernel's out-of-memory killer does this when the machine runs out of memory",
    signal.SIGSEGV: "a segmentation fault, usually in a native library (CUDA, bitsandbytes, a driver)",
    signal.SIGBUS: "a bus error, often a full /dev/shm or a damaged file",
    signal.SIGABRT: "a native library aborted",
}


def die_with_parent(sig: int):
    def set_death_signal() -> None:  # runs in the child before exec: only async-signal-safe work
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
        except OSError:
            pass

    return set_death_signal


def exit_reason(returncode: int) -> str:
    """A person-readable reason for a non-zero exit."""
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"The trainer was killed by signal {-returncode}."
        hint = SIGNAL_HINTS.get(sig)
        return f"The trainer was killed by {sig.name}" + (f" ({hint})." if hint else ".")
    return f"The trainer exited with code {returncode}."


def stop_leftover(work_dir: Path) -> int | None:
    """Kill the trainer a lost runner left behind in this work directory (its worker froze or was cut
    off, so the job was moved on): two trainers must never write one output directory. Returns its pid."""
    try:
        pid = int((work_dir / PID_FILE).read_text())
        process = psutil.Process(pid)
        if str(work_dir) not in " ".join(process.cmdline()):
            return None  # the pid was reused by an unrelated process
    except (OSError, ValueError, psutil.Error):
        return None
    family = [pid, *(child.pid for child in process.children(recursive=True))]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        TrainerProcess.signal_all(family, sig)
        _gone, alive = psutil.wait_procs(_processes(family), timeout=KILL_GRACE_SECONDS)
        if not alive:
            break
    return pid


def _processes(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            continue
    return found


def terminal_line(text: str) -> str:
    """What a terminal would show of one output line: progress bars redraw it with carriage returns."""
    return text.rstrip().rsplit("\r", 1)[-1].rstrip()


class TrainerProcess:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, events_path: Path, torchrun: bool):
        events_path.unlink(missing_ok=True)
        events_path.touch()
        env = {**env, "TUNEFORGE_EVENTS_FD": str(events_path)}  # the trainer also takes a path here
        # torchrun forwards SIGTERM to its ranks and stops them; a lone trainer can simply be killed.
        death_signal = signal.SIGTERM if torchrun else signal.SIGKILL
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._events = open(events_path, encoding="utf-8", errors="replace")  # noqa: SIM115
        self._partial = ""
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509 - only prctl, safe before exec
        )
        (events_path.parent / PID_FILE).write_text(str(self.proc.pid))
        self._reader = threading.Thread(target=self._read_output, name="trainer-output", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def new_lines(self) -> list[str]:
        """Complete event lines written since the last call (a half-written line waits for the rest)."""
        chunk = self._events.read()
        if not chunk:
            return []
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        return [line for line in lines if line.strip()]

    def note(self, line: str) -> None:
        """Keep a line in the tail (the runner adds the trainer's log messages)."""
        self.tail.append(terminal_line(line))

    def finish(self) -> tuple[int, list[str]]:
        """Wait for the exit and the last output: the exit code and the event lines not yet read."""
        returncode = self.proc.wait()
        self._reader.join(timeout=5)
        lines = self.new_lines()
        if self._partial.strip():
            lines.append(self._partial)  # a last line without its newline (the trainer was killed)
        self._events.close()
        return returncode, lines

    def stop(self) -> None:
        """SIGTERM to the process group and every descendant, SIGKILL after a short grace."""
        try:
            family = [self.proc.pid, *(p.pid for p in psutil.Process(self.proc.pid).children(recursive=True))]
        except psutil.Error:
            family = [self.proc.pid]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            self.signal_all(family, sig)
            try:
                self.proc.wait(timeout=KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM and any(psutil.pid_exists(pid) for pid in family[1:]):
                continue  # the leader is gone but a rank lingers: kill it too
            return

    @staticmethod
    def signal_all(pids: list[int], sig: int) -> None:
        try:
            os.killpg(pids[0], sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids[1:]:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def _read_output(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            text = terminal_line(raw.decode("utf-8", errors="replace"))
            if text:
                self.tail.append(text)
        self.proc.stdout.close()
