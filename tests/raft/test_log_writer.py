"""The log writer: Readies saved on the loop and synced by Linux AIO, or on the disk thread."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from keyraft.raft.io import log_writer as log_writer_module
from keyraft.raft.io import wal as wal_module
from keyraft.raft.io.disk_thread import DiskThread
from keyraft.raft.io.log_writer import LogWriter
from keyraft.raft.io.wal import WriteAheadLog
from keyraft.raft.messages import Entry, HardState

needs_aio = pytest.mark.skipif(
    log_writer_module.AsyncioContext is None, reason="no Linux AIO on this machine"
)


def entry(index: int) -> Entry:
    return Entry(term=1, index=index, data=f"payload-{index}".encode())


def with_writer(
    directory: Path, native_aio: bool, body: Callable[[LogWriter], Awaitable[None]]
) -> WriteAheadLog:
    """Run `body` with a writer on a log in `directory`; the log reopened afterwards."""

    async def scenario() -> None:
        disk = DiskThread("test-disk")
        wal = WriteAheadLog(str(directory))
        writer = LogWriter(wal, disk, native_aio)
        try:
            await body(writer)
        finally:
            writer.close()
            await disk.run(wal.close)
            await disk.close()

    asyncio.run(scenario())
    return WriteAheadLog(str(directory))


async def save_three(writer: LogWriter) -> None:
    await writer.save(HardState(term=1, vote=1, commit=0), [entry(1), entry(2)])
    await writer.save(HardState(term=1, vote=1, commit=2), [entry(3)])
    await writer.save(HardState(term=2, vote=3, commit=3), [])  # a vote alone


@pytest.mark.parametrize("native_aio", [True, False], ids=["aio", "thread"])
def test_what_a_writer_saved_is_what_the_log_recovers(tmp_path: Path, native_aio: bool) -> None:
    reopened = with_writer(tmp_path, native_aio, save_three)
    assert [e.index for e in reopened.recovered.entries] == [1, 2, 3]
    assert reopened.recovered.entries[2].data == b"payload-3"
    assert reopened.recovered.hard_state == HardState(term=2, vote=3, commit=3)


@needs_aio
def test_linux_aio_syncs_where_the_kernel_can(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    used: list[bool] = []

    async def body(writer: LogWriter) -> None:
        await save_three(writer)
        used.append(writer.native_aio)

    caplog.set_level("INFO", logger="keyraft.raft")
    with_writer(tmp_path, True, body)
    assert used == [True]
    assert "the log syncs by Linux AIO" in caplog.text


@needs_aio
def test_a_full_segment_is_cut_after_its_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_module, "SEGMENT_BYTES", 1)  # every save fills its segment
    reopened = with_writer(tmp_path, True, save_three)
    assert len(list(tmp_path.glob("*.wal"))) == 4  # the first, and one after each save
    assert [e.index for e in reopened.recovered.entries] == [1, 2, 3]


def test_without_linux_aio_the_disk_thread_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(**_kwargs: object) -> None:
        raise OSError(38, "Function not implemented")  # a sandbox without io_setup

    monkeypatch.setattr(log_writer_module, "AsyncioContext", refused)
    used: list[bool] = []

    async def body(writer: LogWriter) -> None:
        await save_three(writer)
        used.append(writer.native_aio)

    caplog.set_level("INFO", logger="keyraft.raft")
    reopened = with_writer(tmp_path, True, body)
    assert used == [False]
    assert "the log syncs on a thread" in caplog.text
    assert [e.index for e in reopened.recovered.entries] == [1, 2, 3]


class _FailingContext:
    """An AIO context whose first sync works (the try) and later ones fail, as caio
    reports an I/O error."""

    def __init__(self, **_kwargs: object) -> None:
        self.syncs = 0

    async def fdsync(self, _fd: int) -> None:
        self.syncs += 1
        if self.syncs > 1:
            raise SystemError("Input/output error")

    def close(self) -> None:
        pass


def test_a_failed_sync_raises_instead_of_reporting_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_writer_module, "AsyncioContext", _FailingContext)
    raised: list[OSError] = []

    async def body(writer: LogWriter) -> None:
        try:
            await writer.save(HardState(term=1, vote=1, commit=0), [entry(1)])
        except OSError as error:
            raised.append(error)

    with_writer(tmp_path, True, body)
    assert len(raised) == 1
    assert "Input/output error" in str(raised[0])
