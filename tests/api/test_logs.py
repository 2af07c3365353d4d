"""--logger zap --log-outputs <file>: one JSON object a line, with zap's fields as etcd
writes them (level, ts, caller, msg); bad logging flags are usage errors."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from keyraft.app.logs import LogConfigError, handlers, log_format
from tests.support.servers import keyraft_command, keyraft_member


def test_zap_json_lines_to_a_file(tmp_path: Path) -> None:
    log_file = tmp_path / "keyraft.jsonl"
    member = keyraft_member(tmp_path, extra=("--logger", "zap", "--log-outputs", str(log_file)))
    try:
        member.start()
    finally:
        member.stop()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines
    for line in lines:
        assert list(line)[:4] == ["level", "ts", "caller", "msg"]
        assert line["level"] in ("debug", "info", "warn", "error", "fatal")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
        assert re.fullmatch(r"[\w./-]+\.py:\d+", line["caller"])
    assert any(line["msg"].startswith("leader is now") for line in lines)
    assert not any(
        line.lstrip().startswith("{") for line in member.log_path.read_text().splitlines()
    )


def test_bad_logging_flags_are_usage_errors() -> None:
    for call, text in (
        (lambda: log_format("bogus", ""), '"bogus" is not "zap" or "capnslog"'),
        (lambda: log_format("zap", "xml"), '"xml" is not "json" or "text"'),
        (lambda: handlers("/nonexistent/dir/file"), "cannot open"),
    ):
        with pytest.raises(LogConfigError, match=re.escape(text)):
            call()
    assert log_format("zap", "") == "json" and log_format("capnslog", "") == "text"
    done = subprocess.run(
        [*keyraft_command(), "--logger", "bogus"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and '"bogus" is not "zap"' in done.stderr, done.stderr
