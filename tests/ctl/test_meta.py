"""member list, endpoint health/status, version, table output and shell completion."""

from __future__ import annotations

import re

from tests.ctl.support import ctl_command, etcdctl, invoke, keyraftctl, run
from tests.support.servers import Member


def test_member_list_and_status_match_etcdctl(etcd: Member) -> None:
    for arguments in (
        ("member", "list"), ("-w", "json", "member", "list"), ("-w", "fields", "member", "list"),
        ("-w", "table", "member", "list"),
    ):  # fmt: skip
        assert invoke(etcd.client_url, *arguments) == etcdctl(etcd.client_url, *arguments)
    # every column but the ones that move between the two calls (raft index, db size)
    ours = invoke(etcd.client_url, "-w", "table", "endpoint", "status").text.splitlines()
    theirs = etcdctl(etcd.client_url, "-w", "table", "endpoint", "status").text.splitlines()
    assert ours[:3] == theirs[:3] and len(ours) == len(theirs) == 5
    ours = invoke(etcd.client_url, "endpoint", "status").text.split(", ")
    theirs = etcdctl(etcd.client_url, "endpoint", "status").text.split(", ")
    assert ours[:6] == theirs[:6] and len(ours) == len(theirs) == 10


def test_member_and_endpoint_on_keyraft(keyraft: Member) -> None:
    url = keyraft.client_url
    members = invoke(url, "member", "list").text
    assert re.fullmatch(
        rf"[0-9a-f]+, started, kr1, http://127\.0\.0\.1:\d+, {url}, false\n", members
    )
    status = invoke(url, "endpoint", "status").text
    assert re.fullmatch(
        rf"{url}, [0-9a-f]+, 3\.4\.\d+, [\d.]+ [kM]?B, true, false, \d+, \d+, \d+, \n", status
    )
    fields = invoke(url, "-w", "fields", "endpoint", "status").text
    assert f'"Endpoint" : "{url}"' in fields and '"RaftAppliedIndex" :' in fields


def test_endpoint_health(server: Member) -> None:
    url = server.client_url
    simple = invoke(url, "endpoint", "health")
    assert simple.code == 0 and simple.out == b""
    assert re.fullmatch(
        rf"{url} is healthy: successfully committed proposal: took = [\d.]+[µm]?s\n", simple.error
    )
    json_health = invoke(url, "-w", "json", "endpoint", "health").text
    assert re.fullmatch(
        rf'\[\{{"endpoint":"{url}","health":true,"took":"[\d.]+[µm]?s"\}}\]\n', json_health
    )
    table = invoke(url, "-w", "table", "endpoint", "health").text
    assert "ENDPOINT" in table and url in table and "+-" in table


def test_table_output_where_etcdctl_has_none_is_refused_as_etcdctl_does(
    server: Member, etcd: Member
) -> None:
    """etcdctl draws tables only for member list and the endpoint commands; otherwise it
    serves the request, then says so (exit 4)."""
    for url, tool in ((server.client_url, invoke), (etcd.client_url, etcdctl)):
        refused = tool(url, "-w", "table", "put", "table/k", "v")
        assert (refused.code, refused.error) == (4, "Error: table not supported as output format\n")
        assert tool(url, "get", "table/k", "--print-value-only").text == "v\n"


def test_version_and_completion() -> None:
    version = invoke("http://127.0.0.1:1", "version")
    assert re.fullmatch(r"keyraftctl version: \S+\nAPI version: 3\.4\n", version.text)
    script = invoke("http://127.0.0.1:1", "completion", "bash").text
    assert "_KEYRAFTCTL_COMPLETE" in script
    completed = run(
        [*ctl_command()],
        None,
        {"_KEYRAFTCTL_COMPLETE": "bash_complete", "COMP_WORDS": "keyraftctl le", "COMP_CWORD": "1"},
        30,
    )
    assert "lease" in completed.text


def test_console_script_entry_point(etcd: Member) -> None:
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("keyraftctl")
    if not script.exists():
        script = Path(shutil.which("keyraftctl") or "keyraftctl")
    result = run([str(script), "--endpoints", etcd.client_url, "version"], None, None, 30)
    assert result.code == 0 and result.text.startswith("keyraftctl version:")
    assert keyraftctl(etcd.client_url, "--help").text.startswith("Usage: keyraftctl")
