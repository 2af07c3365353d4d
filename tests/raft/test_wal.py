"""The write-ahead log's recovery: a torn or corrupt tail loses exactly the broken record."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.raft.io import wal as wal_module
from keyraft.raft.io.wal import WriteAheadLog
from keyraft.raft.messages import ConfState, Entry, HardState, Snapshot


def entry(index: int, term: int = 1) -> Entry:
    return Entry(term=term, index=index, data=f"payload-{index}".encode())


def only_segment(directory: Path) -> Path:
    segments = sorted(directory.glob("*.wal"))
    assert len(segments) == 1
    return segments[0]


def one_segment_per_save(
    directory: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> WriteAheadLog:
    """A log of entries 1..count, each saved (after the hard state committing the one
    before it) into a segment of its own."""
    monkeypatch.setattr(wal_module, "SEGMENT_BYTES", 1)  # every save starts a new segment
    wal = WriteAheadLog(str(directory))
    for index in range(1, count + 1):
        wal.save(HardState(term=1, vote=1, commit=index - 1), [entry(index)])
    return wal


def write_log(directory: Path) -> tuple[bytes, int]:
    """A log whose last record is entry 4; returns its bytes and where that record starts."""
    wal = WriteAheadLog(str(directory))
    wal.save(HardState(term=1, vote=1, commit=0), [entry(1), entry(2)])
    wal.save(HardState(term=1, vote=1, commit=2), [entry(3)])
    tail_start = only_segment(directory).stat().st_size
    wal.save(None, [entry(4)])
    wal.close()
    return only_segment(directory).read_bytes(), tail_start


def test_a_clean_log_recovers_everything(tmp_path: Path) -> None:
    write_log(tmp_path)
    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.entries == [entry(1), entry(2), entry(3), entry(4)]
    assert recovered.hard_state == HardState(term=1, vote=1, commit=2)
    assert recovered.repaired_bytes == 0


def test_a_buffered_hard_state_lands_in_order_with_the_next_synced_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver buffers a commit-only hard state on the event loop: it must be read
    back in its place, and never start a segment (that is the disk thread's work)."""
    monkeypatch.setattr(wal_module, "SEGMENT_BYTES", 1)  # a save would cut at once
    wal = WriteAheadLog(str(tmp_path))
    segments = sorted(tmp_path.glob("*.wal"))
    wal.buffer_hard_state(HardState(term=1, vote=1, commit=0))
    assert sorted(tmp_path.glob("*.wal")) == segments
    wal.save(None, [entry(1)])
    wal.buffer_hard_state(HardState(term=1, vote=1, commit=1))
    wal.save(None, [entry(2)])
    wal.close()
    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.entries == [entry(1), entry(2)]
    assert recovered.hard_state == HardState(term=1, vote=1, commit=1)
    assert recovered.repaired_bytes == 0


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_a_torn_tail_keeps_exactly_the_whole_records_before_it(tmp_path: Path, damage: str) -> None:
    data, tail_start = write_log(tmp_path / "original")
    for offset in range(tail_start, len(data)):
        directory = tmp_path / f"{damage}-{offset}"
        directory.mkdir()
        segment = directory / "0000000000000000.wal"
        if damage == "truncate":
            broken = data[:offset]
        else:
            broken = data[:offset] + bytes((data[offset] ^ 0xFF,)) + data[offset + 1 :]
        segment.write_bytes(broken)

        wal = WriteAheadLog(str(directory))
        recovered = wal.recovered
        assert recovered.entries == [entry(1), entry(2), entry(3)], offset
        assert recovered.hard_state == HardState(term=1, vote=1, commit=2), offset
        assert recovered.repaired_bytes == len(broken) - tail_start, offset
        assert segment.stat().st_size == tail_start, offset  # the file itself is repaired

        wal.save(None, [entry(4, term=2)])  # and appending after the repair is sound
        wal.close()
        again = WriteAheadLog(str(directory)).recovered
        assert again.entries[-1] == entry(4, term=2) and again.repaired_bytes == 0, offset


def test_a_bad_record_drops_every_later_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = one_segment_per_save(tmp_path, monkeypatch, 4)
    wal.close()
    segments = sorted(tmp_path.glob("*.wal"))
    assert len(segments) >= 4
    second = segments[1]
    second.write_bytes(second.read_bytes()[:-1])  # tear the second segment's last record

    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.entries == [entry(1), entry(2)]
    assert recovered.hard_state == HardState(term=1, vote=1, commit=0)
    assert sorted(tmp_path.glob("*.wal")) == segments[:2]


def test_a_rewrite_keeps_the_snapshot_and_what_follows(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path))
    wal.save(HardState(term=1, vote=1, commit=3), [entry(n) for n in range(1, 6)])
    snapshot = Snapshot(index=3, term=1, conf_state=ConfState((1, 2, 3)), data=b"not stored")
    wal.rewrite(snapshot, HardState(term=1, vote=1, commit=3), [entry(4), entry(5)])
    wal.close()
    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.snapshot == Snapshot(index=3, term=1, conf_state=ConfState((1, 2, 3)))
    assert recovered.entries == [entry(4), entry(5)]
    assert len(list(tmp_path.glob("*.wal"))) == 1


def test_a_compaction_keeps_later_entries_in_place_and_drops_covered_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = one_segment_per_save(tmp_path, monkeypatch, 6)
    segments = sorted(tmp_path.glob("*.wal"))
    snapshot = Snapshot(index=3, term=1, conf_state=ConfState((1, 2, 3)), data=b"not stored")
    covered = wal.compact(snapshot, HardState(term=1, vote=1, commit=6))
    # The segments of entries 1-3 are the covered ones; those of 4-6 stay as they were.
    assert covered == [str(path) for path in segments[:3]]
    wal.save(None, [entry(7)])
    wal.close()

    def recovered() -> wal_module.Recovered:
        found = WriteAheadLog(str(tmp_path))
        found.close()
        return found.recovered

    before_removal = recovered()  # a crash before the covered segments were removed
    wal_module.remove_segments(covered)
    assert [path for path in segments if path.exists()] == segments[3:]
    for found in (before_removal, recovered()):
        assert found.snapshot == Snapshot(index=3, term=1, conf_state=ConfState((1, 2, 3)))
        assert found.entries == [entry(n) for n in range(4, 8)]
        assert found.hard_state == HardState(term=1, vote=1, commit=6)
        assert found.repaired_bytes == 0


def test_a_compaction_copies_no_entries_and_the_log_stays_bounded(tmp_path: Path) -> None:
    wal = WriteAheadLog(str(tmp_path))
    last = 0
    for _ in range(20):  # the driver's pattern: compact behind the applied index, keep some
        batch = [entry(index) for index in range(last + 1, last + 101)]
        wal.save(HardState(term=1, vote=1, commit=batch[-1].index), batch)
        last = batch[-1].index
        before = {path: path.stat().st_size for path in tmp_path.glob("*.wal")}
        wal_module.remove_segments(
            wal.compact(Snapshot(index=last - 50, term=1), HardState(term=1, vote=1, commit=last))
        )
        new = [path for path in tmp_path.glob("*.wal") if path not in before]
        assert len(new) == 1 and new[0].stat().st_size < 100  # metadata only
        assert all(path.stat().st_size == size for path, size in before.items() if path.exists())
        assert len(list(tmp_path.glob("*.wal"))) <= 3
    wal.close()
    recovered = WriteAheadLog(str(tmp_path)).recovered
    assert recovered.snapshot.index == last - 50
    assert recovered.entries == [entry(index) for index in range(last - 49, last + 1)]
