"""The `keyraft` command line: etcd's flags, clear errors, KEYRAFT_* variables."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from keyraft.app.config_file import flags_from_file
from keyraft.app.main import config_from_flags, main
from keyraft.app.scheduling import apply_cpu_scheduling
from tests.support.servers import ROOT, Member, free_port, keyraft_command, keyraft_member


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*keyraft_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_etcd_flags() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in (
        "--name",
        "--data-dir",
        "--listen-client-urls",
        "--initial-cluster",
        "--max-txn-ops",
        "--quota-backend-bytes",
        "--auto-compaction-mode",
        "--auto-compaction-retention",
    ):
        assert flag in result.stdout


def test_unknown_flag_and_bad_values_are_usage_errors() -> None:
    cases = [
        (("--no-such-flag",), "No such option"),
        (("--max-txn-ops", "many"), "many"),
        (("--initial-cluster-state", "maybe"), "maybe"),
        (("--listen-client-urls", "ftp://x:1"), "scheme"),
        (("--listen-client-urls", "http://127.0.0.1"), "port"),
        (("--initial-cluster", "n1"), "name=url"),
        (("--name", "n1", "--initial-cluster", "n2=http://127.0.0.1:2380"), "no member named 'n1'"),
        (("--auto-compaction-mode", "bogus"), 'unknown auto-compaction-mode "bogus"'),
        (("--auto-compaction-retention", "xyz"), 'time: invalid duration "xyz"'),
    ]
    for args, text in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_etcd_style_single_member_command_line_and_env(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path, name="n1")
    peer = [arg for arg in member.command if arg.startswith("http://")][-1]
    member.command += ["--initial-cluster", f"n1={peer}", "--initial-cluster-token", "tok"]
    member.command += ["--initial-cluster-state", "new"]
    member.start()
    member.stop()
    port = free_port()
    env = {
        "KEYRAFT_LISTEN_CLIENT_URLS": f"http://127.0.0.1:{port}",
        "KEYRAFT_DATA_DIR": str(tmp_path / "env"),
    }
    process = subprocess.Popen(
        [*keyraft_command(), "--listen-peer-urls", "http://127.0.0.1:1"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = Member(
            "env",
            "keyraft",
            [],
            tmp_path / "env",
            f"http://127.0.0.1:{port}",
            tmp_path / "env.log",
            process,
        )
        probe.wait_ready(30)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"health": "true"}
        assert (tmp_path / "env").is_dir()
    finally:
        process.terminate()
        process.wait(10)


def _flag_values(member: Member) -> dict[str, str]:
    """The `--flag value` pairs of a member's command line, by flag."""
    flags = member.command[len(keyraft_command()) :]
    return dict(zip(flags[::2], flags[1::2], strict=True))


def test_etcd_variables_configure_keyraft_as_they_configure_etcd(tmp_path: Path) -> None:
    """A manifest written for etcd sets ETCD_* variables: keyraft takes them, logs each as
    etcd does, warns about unknown ones, and lets KEYRAFT_* and flags win."""
    member = keyraft_member(tmp_path, name="envname")
    program = keyraft_command()
    pairs = _flag_values(member)
    member.env = {
        "ETCD_" + flag.removeprefix("--").replace("-", "_").upper(): value
        for flag, value in pairs.items()
        if flag not in ("--log-level", "--name")
    }
    member.env.update(
        ETCD_NAME="not-used",
        KEYRAFT_NAME="envname",
        ETCD_NO_SUCH_FLAG="1",
        ETCD_MAX_TXN_OPS="5",
    )
    member.command = [*program, "--log-level", "info", "--max-txn-ops", "7"]
    member.start()
    try:
        members = member.post("/v3/cluster/member/list", {}).json()["members"]
        assert [entry["name"] for entry in members] == ["envname"]  # KEYRAFT_NAME won
        distinct = [
            {"request_put": {"key": base64.b64encode(b"k%d" % i).decode()}} for i in range(8)
        ]
        too_many = member.post("/v3/kv/txn", {"success": distinct}).json()
        assert too_many["message"] == "etcdserver: too many operations in txn request"
        assert member.post("/v3/kv/txn", {"success": distinct[:7]}).status_code == 200  # flag won
    finally:
        member.stop()
    log = member.log_path.read_text()
    assert "unrecognized environment variable ETCD_NO_SUCH_FLAG=1" in log
    assert f"recognized and used environment variable ETCD_DATA_DIR={member.data_dir}" in log
    assert '"ETCD_MAX_TXN_OPS" is shadowed by corresponding command-line flag' in log
    assert "ETCD_NAME is shadowed by KEYRAFT_NAME" in log


def test_an_etcd_config_file_configures_keyraft_and_replaces_flags(tmp_path: Path) -> None:
    """etcd's YAML file, as operators write it (sections for TLS, keys keyraft has no use
    for): as with etcd, the file alone counts; flags and variables given beside it are
    ignored."""
    member = keyraft_member(tmp_path, name="fromfile")
    program = keyraft_command()
    settings: dict[str, object] = {
        flag.removeprefix("--"): value for flag, value in _flag_values(member).items()
    }
    settings.update(
        {
            "max-txn-ops": 3,
            "enable-v2": True,
            "no-such-key": 3,
            "client-transport-security": {"auto-tls": False, "client-cert-auth": False},
            "peer-transport-security": {"auto-tls": False},
        }
    )
    config = tmp_path / "etcd.conf.yml"
    config.write_text(yaml.safe_dump(settings))
    member.command = [*program, "--config-file", str(config), "--name", "ignored"]
    member.env = {"ETCD_MAX_TXN_OPS": "100", "KEYRAFT_MAX_TXN_OPS": "100"}
    member.start()
    try:
        members = member.post("/v3/cluster/member/list", {}).json()["members"]
        assert [entry["name"] for entry in members] == ["fromfile"]
        puts = [{"request_put": {"key": base64.b64encode(b"k%d" % i).decode()}} for i in range(4)]
        too_many = member.post("/v3/kv/txn", {"success": puts}).json()
        assert too_many["message"] == "etcdserver: too many operations in txn request"
    finally:
        member.stop()
    log = member.log_path.read_text()
    assert "ignored configuration file keys: no-such-key" in log
    assert "--enable-v2=True is accepted for etcd compatibility and ignored" in log
    assert "Other configuration command line flags and environment variables will be ignored" in log


def test_a_bad_config_file_is_refused_clearly(tmp_path: Path) -> None:
    for text, message in (
        ("name: [unclosed", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("max-txn-ops: many", "max-txn-ops"),
        ("client-transport-security: 3", "must be a mapping"),
    ):
        config = tmp_path / "bad.yml"
        config.write_text(text)
        result = run("--config-file", str(config))
        assert result.returncode == 2, (text, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    result = run("--config-file", str(tmp_path / "missing.yml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_etcd_flags_keyraft_has_no_use_for_are_accepted_with_a_warning(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path, name="ignoring")
    member.command += [
        "--enable-v2",  # a Go bool flag given alone
        "--pre-vote=true",
        "--max-wals=5",
        "--grpc-keepalive-timeout", "20s",
        "--proxy", "off",
        "--debug",
    ]  # fmt: skip
    member.start()
    member.stop()
    log = member.log_path.read_text()
    for flag in ("--enable-v2=True", "--pre-vote=True", "--max-wals=5", "--proxy=off"):
        assert f"{flag} is accepted for etcd compatibility and ignored" in log, flag
    assert "DEBUG keyraft.flags: settings in use: ServerConfig(" in log  # --debug


def test_etcd_flags_that_would_weaken_security_or_change_the_cluster_are_refused() -> None:
    for args, message in (
        (("--peer-crl-file", "/etc/crl.pem"), "--peer-crl-file: certificate revocation lists"),
        (("--peer-cert-allowed-cn", "member"), "restricting peer certificates by name"),
        (("--discovery-srv", "example.com"), "DNS discovery is not supported"),
    ):
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_wal_dir_force_new_cluster_and_pprof_come_from_flags_variables_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every flag, from the command line, ETCD_* variables or etcd's config file."""

    def settings(args: list[str]) -> tuple[str, bool, bool]:
        context = main.make_context("keyraft", args)
        flags = dict(context.params)
        if flags["config_file"]:
            flags = flags_from_file(str(flags["config_file"]), context)
        config = config_from_flags(flags)
        return config.member_wal_dir, config.force_new_cluster, config.enable_pprof

    default = settings(["--data-dir", "d"])
    assert default == (os.path.join("d", "member", "wal"), False, False)
    given = ["--wal-dir", "/w", "--force-new-cluster", "--enable-pprof=true"]
    assert settings(given) == ("/w", True, True)
    monkeypatch.setenv("ETCD_WAL_DIR", "/env")
    monkeypatch.setenv("ETCD_FORCE_NEW_CLUSTER", "true")
    monkeypatch.setenv("ETCD_ENABLE_PPROF", "true")
    assert settings([]) == ("/env", True, True)
    config = tmp_path / "etcd.yml"
    config.write_text(yaml.safe_dump({"wal-dir": "/file", "force-new-cluster": True}))
    assert settings(["--config-file", str(config)]) == ("/file", True, False)


def _thread_policies(pid: int) -> set[int]:
    """The scheduling policy of every thread of process `pid`."""
    policies = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            policies.add(os.sched_getscheduler(int(task.name)))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
    return policies


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_every_member_thread_runs_under_the_cpu_scheduling_policy(tmp_path: Path) -> None:
    """Batch by default, for every thread (the event loop's, the WAL's, RocksDB's, which
    inherit it); `--cpu-scheduling normal` leaves them all under the default policy."""
    for extra, policy in (((), os.SCHED_BATCH), (("--cpu-scheduling", "normal"), os.SCHED_OTHER)):
        workdir = tmp_path / str(policy)
        workdir.mkdir()
        member = keyraft_member(workdir, extra=extra)
        member.start()
        try:
            put = {"key": base64.b64encode(b"k").decode(), "value": ""}
            assert httpx.post(member.client_url + "/v3/kv/put", json=put, timeout=10).is_success
            assert _thread_policies(member.pid) == {policy}
            assert len(list(Path(f"/proc/{member.pid}/task").iterdir())) > 2
        finally:
            member.stop()
    result = run("--cpu-scheduling", "realtime")
    assert result.returncode == 2 and "realtime" in result.stderr


def test_a_policy_the_system_refuses_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    assert apply_cpu_scheduling("batch") == "could not set SCHED_BATCH: Operation not permitted"
    assert apply_cpu_scheduling("normal") is None


def test_a_member_without_jwt_tokens_does_not_load_their_libraries(tmp_path: Path) -> None:
    """PyJWT pulls in cryptography, ~8 MiB of a member's memory: only `--auth-token jwt,...`
    loads them (tests/api/test_auth_api.py covers JWTs themselves)."""
    member = keyraft_member(tmp_path)
    member.start()
    try:
        put = {"key": base64.b64encode(b"k").decode(), "value": ""}
        assert httpx.post(member.client_url + "/v3/kv/put", json=put, timeout=10).is_success
        mapped = Path(f"/proc/{member.pid}/maps").read_text()
        assert "site-packages/uvloop" in mapped  # what the check looks for shows up here
        assert "site-packages/cryptography" not in mapped
    finally:
        member.stop()
