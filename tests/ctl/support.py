"""Run keyraftctl and etcdctl as processes, and compare their outputs modulo identities."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import ROOT

ETCDCTL_LOG_LINE = re.compile(rb'^\{"level":"warn".*\n', re.MULTILINE)
IDENTITY = re.compile(
    r'("(?:cluster_id|member_id|raft_term)":)"?\d+"?'
    r'|("(?:ClusterID|MemberID|RaftTerm)" : )\d+'
)


@dataclass(frozen=True)
class Result:
    code: int
    out: bytes
    err: bytes

    @property
    def text(self) -> str:
        return self.out.decode(errors="replace")

    @property
    def error(self) -> str:
        return self.err.decode(errors="replace")


def ctl_command() -> list[str]:
    return [sys.executable, "-m", "keyraft.ctl.main"]


def run(
    command: list[str], stdin: bytes | None, env: dict[str, str] | None, timeout: float
) -> Result:
    merged = {k: v for k, v in os.environ.items() if not k.startswith(("ETCDCTL_", "KEYRAFTCTL_"))}
    merged.update(env or {})
    done = subprocess.run(
        command, input=stdin or b"", capture_output=True, env=merged, cwd=ROOT, timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)


def keyraftctl(
    endpoints: str,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
) -> Result:
    return run([*ctl_command(), "--endpoints", endpoints, *args], stdin, env, timeout)


def etcdctl(endpoint: str, *args: str, stdin: bytes | None = None, timeout: float = 30) -> Result:
    result = run(["etcdctl", "--endpoints", endpoint, *args], stdin, {"ETCDCTL_API": "3"}, timeout)
    return Result(result.code, result.out, ETCDCTL_LOG_LINE.sub(b"", result.err))


def normalized(text: str) -> str:
    """Hide what differs between two servers with identical histories: their identities."""
    return IDENTITY.sub(lambda m: (m.group(1) or m.group(2)) + "N", text)


class Reader:
    """Accumulate a child's output without blocking, waiting on conditions with deadlines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b""
            self.data += chunk

    def wait_for(self, needle: bytes, timeout: float = 15.0, count: int = 1) -> bytes:
        deadline = time.monotonic() + timeout
        while self.data.count(needle) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{needle!r} not seen x{count} within {timeout}s; got {self.data!r}"
                )
            self.pump(min(remaining, 0.2))
        return self.data


def spawn(
    command: list[str], env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.Popen:
    merged = {k: v for k, v in os.environ.items() if not k.startswith(("ETCDCTL_", "KEYRAFTCTL_"))}
    merged.update(env or {})
    return subprocess.Popen(command, cwd=ROOT, env=merged, start_new_session=True, **kwargs)  # type: ignore[call-overload]


def stop(process: subprocess.Popen) -> None:
    """Stop a child we started, by its PID; SIGKILL if it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def data_path(name: str) -> Path:
    return Path(__file__).parent / name


def invoke(endpoints: str, *args: str, stdin: bytes | None = None) -> Result:
    """Run keyraftctl in this process: the same `main`, without ~0.3 s of interpreter start.

    Used for the long comparison scripts; the subprocess tests cover the real entry point.
    """
    import io

    from keyraft.ctl.main import main

    streams = (sys.stdin, sys.stdout, sys.stderr)
    out, err = io.BytesIO(), io.BytesIO()
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    code = 0
    try:
        main(["--endpoints", endpoints, *args])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        captured = Result(code, out.getvalue(), err.getvalue())
        sys.stdin, sys.stdout, sys.stderr = streams
    return captured
