"""Runtime diagnostics behind --enable-pprof: Python's answers to Go's pprof profiles.

- stacks: every asyncio task's await chain and every thread's stack (Go's goroutine dump);
- heap: tracemalloc's top allocation sites (tracing starts only with the flag: it costs
  memory and time on every allocation);
- profile: cProfile over the event loop's thread for a bounded number of seconds (worker
  threads, e.g. fsyncs, are not in it; py-spy samples every thread from outside).

What must be read on the event loop (tasks, frames) is captured there as plain tuples,
cheaply; formatting, which reads source files, runs in a worker thread. Output is capped.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import linecache
import marshal
import pstats
import sys
import threading
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from types import FrameType

MAX_TASKS = 20_000
MAX_FRAMES = 64  # per task or thread
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
MAX_TOP = 1000
TRACEMALLOC_FRAMES = 1

# (file, line, function) of one frame, outermost first.
Stack = tuple[tuple[str, int, str], ...]


class ProfilingBusy(Exception):
    """A CPU profile is already being taken (cProfile can run one at a time)."""


def start_tracing() -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start(TRACEMALLOC_FRAMES)


# ---- stacks ------------------------------------------------------------------------------


def _awaited_frames(coroutine: object) -> Iterator[FrameType]:
    """The frames of a coroutine and of what it awaits, down to the innermost."""
    depth = 0
    while coroutine is not None and depth < MAX_FRAMES:
        frame = (
            getattr(coroutine, "cr_frame", None)
            or getattr(coroutine, "gi_frame", None)
            or getattr(coroutine, "ag_frame", None)
        )
        if frame is None:
            return
        yield frame
        depth += 1
        coroutine = (
            getattr(coroutine, "cr_await", None)
            or getattr(coroutine, "gi_yieldfrom", None)
            or getattr(coroutine, "ag_await", None)
        )


def _frame(frame: FrameType) -> tuple[str, int, str]:
    return frame.f_code.co_filename, frame.f_lineno or 0, frame.f_code.co_name


def _thread_stack(frame: FrameType | None) -> Stack:
    frames = []
    while frame is not None and len(frames) < MAX_FRAMES:
        frames.append(_frame(frame))
        frame = frame.f_back
    return tuple(reversed(frames))


def capture_stacks() -> tuple[list[tuple[str, Stack]], list[tuple[str, Stack]]]:
    """(task label, stack) for every task of the running loop, then for every thread.
    Call on the event loop: it only walks frames, formatting comes later."""
    tasks = []
    for task in list(asyncio.all_tasks())[:MAX_TASKS]:
        coroutine = task.get_coro()
        name = getattr(coroutine, "__qualname__", type(coroutine).__name__)
        state = "cancelling" if task.cancelling() else "pending"
        stack = tuple(_frame(frame) for frame in _awaited_frames(coroutine))
        tasks.append((f"task {task.get_name()} [{state}] {name}", stack))
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    threads = [
        (f"thread {names.get(ident, ident)}", _thread_stack(frame))
        for ident, frame in sys._current_frames().items()
    ]
    return tasks, threads


def _format_stack(stack: Stack) -> Iterator[str]:
    for filename, line, function in reversed(stack):  # innermost first, as Go prints
        yield f"  {function}\n    {filename}:{line}\n"
        source = linecache.getline(filename, line).strip()
        if source:
            yield f"      {source}\n"


def format_stacks(
    tasks: list[tuple[str, Stack]], threads: list[tuple[str, Stack]], full: bool
) -> str:
    """`full`: each task and thread with its stack (goroutine?debug=2); else identical
    stacks counted together, most common first (debug=1)."""
    output = _Capped()
    output.write(f"asyncio tasks: total {len(tasks)}\n")
    if full:
        for label, stack in tasks:
            output.write(f"\n{label}:\n")
            output.writelines(_format_stack(stack))
    else:
        for stack, count in Counter(stack for _label, stack in tasks).most_common():
            output.write(f"\n{count} @\n")
            output.writelines(_format_stack(stack))
    output.write(f"\nthreads: total {len(threads)}\n")
    for label, stack in threads:
        output.write(f"\n{label}:\n")
        output.writelines(_format_stack(stack))
    return output.text()


class _Capped:
    """Text up to MAX_OUTPUT_BYTES (about: counted in characters), then a note."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.full = False

    def write(self, text: str) -> None:
        if self.full:
            return
        if self.size + len(text) > MAX_OUTPUT_BYTES:
            self.full = True
            self.parts.append(f"\n... cut at {MAX_OUTPUT_BYTES} bytes\n")
            return
        self.parts.append(text)
        self.size += len(text)

    def writelines(self, lines: Iterator[str]) -> None:
        for line in lines:
            self.write(line)

    def text(self) -> str:
        return "".join(self.parts)


# ---- heap --------------------------------------------------------------------------------


def heap_report(top: int) -> str | None:
    """tracemalloc's `top` allocation sites by size, or None when it is not tracing.
    Slow with many allocations: run it in a worker thread."""
    if not tracemalloc.is_tracing():
        return None
    current, peak = tracemalloc.get_traced_memory()
    snapshot = tracemalloc.take_snapshot()
    statistics = snapshot.statistics("lineno")
    lines = [
        f"heap profile (tracemalloc): traced {current} bytes now, peak {peak} bytes, "
        f"{len(statistics)} allocation sites; top {min(top, len(statistics))} by size\n",
    ]
    lines += [f"{stat}\n" for stat in statistics[:top]]
    return "".join(lines)


# ---- CPU ---------------------------------------------------------------------------------

_profiling = asyncio.Lock()


async def cpu_profile(seconds: float) -> pstats.Stats:
    """cProfile of the event loop's thread for `seconds`; ProfilingBusy if one runs."""
    if _profiling.locked():
        raise ProfilingBusy
    async with _profiling:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await asyncio.sleep(seconds)
        finally:
            profiler.disable()
    return await asyncio.to_thread(pstats.Stats, profiler)


def profile_text(stats: pstats.Stats, top: int) -> str:
    output = io.StringIO()
    stats.stream = output  # type: ignore[attr-defined]
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return output.getvalue()


def profile_dump(stats: pstats.Stats) -> bytes:
    """The profile as `pstats.Stats.dump_stats` writes it (for pstats, snakeviz, ...)."""
    return marshal.dumps(stats.stats)  # type: ignore[attr-defined]
