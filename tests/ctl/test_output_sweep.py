"""Issue #19's sweep: every command line below, in every -w format, run by etcdctl 3.4 and by
keyraftctl against one real etcd; stdout, stderr and exit code must be byte-identical.

Read-only lines run on a state both CLIs share, so nothing is normalized but what etcd
itself makes nondeterministic (endpoint health's "took", a lease's remaining seconds).
A mutating line first gets a setup (the same writes before each CLI's run) and then the
two runs differ only by where the revision counter stood: every revision in the output is
printed relative to the revision the setup left, and nothing else is touched. `-w protobuf`
is refused by keyraftctl before anything is sent (README: agreed), which is checked too.
Watch, lock and elect are interactive and covered by test_interactive/test_lock.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from tests.ctl.support import Result, etcdctl, invoke
from tests.support.servers import Member, etcd_member

FORMATS = ("simple", "json", "fields", "table", "protobuf")
PROTOBUF_REFUSED = "Error: protobuf not supported as output format"
LEASE = 0x5EE9  # a lease ID the setups grant on purpose, so both CLIs name the same lease
LEASE_HEX = f"{LEASE:x}"
SNAPSHOT = "snapshot.db"  # under the module's directory; the fixture saves it once


class Etcd:
    """The module's etcd, and one HTTP client for the setups (quicker than etcdctl runs)."""

    def __init__(self, member: Member, root: Path) -> None:
        self.member, self.root = member, root
        self.http = httpx.Client(base_url=member.client_url, timeout=15)

    def call(self, path: str, body: dict) -> dict:
        return orjson.loads(self.http.post(path, json=body).content)

    def put(self, key: str, value: str, lease: int = 0) -> None:
        body = {"key": _b64(key), "value": _b64(value), "lease": lease}
        assert "header" in self.call("/v3/kv/put", body)

    def revision(self) -> int:
        return int(self.call("/v3/kv/range", {"key": _b64("sw")})["header"]["revision"])


Setup = Callable[[Etcd], None]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _lease(etcd: Etcd) -> None:
    """A fresh lease with a known ID and one key on it (etcd lists several in map order)."""
    etcd.call("/v3/lease/revoke", {"ID": LEASE})
    assert "ID" in etcd.call("/v3/lease/grant", {"ID": LEASE, "TTL": 600})
    etcd.put("sw/lease/a", "1", LEASE)


def _keys(*pairs: tuple[str, str]) -> Setup:
    """Remove the sweep's mutable keys, then write `pairs` in order."""

    def setup(etcd: Etcd) -> None:
        prefix = "sw/m/"
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        etcd.call("/v3/kv/deleterange", {"key": _b64(prefix), "range_end": _b64(end)})
        for key, value in pairs:
            etcd.put(key, value)

    return setup


def _alarm(etcd: Etcd) -> None:
    """A CORRUPT alarm for member 0 (etcd lists several in Go map order: one only)."""
    body = {"action": "ACTIVATE", "memberID": "0", "alarm": "CORRUPT"}
    assert "alarms" in etcd.call("/v3/maintenance/alarm", body)  # (etcd 3.4: no header)


def _no_user(*names: str) -> Setup:
    def setup(etcd: Etcd) -> None:
        for name in names:
            etcd.call("/v3/auth/user/delete", {"name": name})
            etcd.call("/v3/auth/role/delete", {"role": name})

    return setup


@dataclass(frozen=True)
class Case:
    arguments: tuple[str, ...]
    stdin: bytes | None = None
    setup: Setup | None = None  # None: read-only, both CLIs see the same state
    hide: tuple[str, ...] = field(default=())  # names in HIDE: what etcd makes vary
    formats: tuple[str, ...] = FORMATS  # fewer where the others never end (watch)


TXN = b'value("sw/a") = "1"\nmod("sw/b") > "0"\n\nput sw/m/t v --prev-kv\nget sw/m/ --prefix --keys-only --limit 1\ndel sw/m/none --prev-kv\n\nget sw/a\n\n'
TXN_FAILS = b'ver("sw/a") = "99"\n\nput sw/m/t x\n\nget sw/m/a\nget "sw/m/a" "sw/m/c"\n\n'
TXN_KEYS = (("sw/m/a", "1"), ("sw/m/b", "2"))

CASES: list[Case] = [
    # kv, read-only
    Case(("get", "sw/a")),
    Case(("get", "sw/missing")),
    Case(("get", "sw/", "--prefix")),
    Case(("get", "sw/a", "sw/d")),
    Case(("get", "sw/", "--prefix", "--keys-only")),
    Case(("get", "sw/", "--prefix", "--print-value-only")),
    Case(("get", "sw/b", "--rev", "3")),
    Case(("get", "sw/", "--prefix", "--limit", "2")),
    Case(("get", "sw/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND")),
    Case(("get", "sw/", "--prefix", "--sort-by", "value", "--order", "ascend")),
    Case(("get", "sw/c", "--from-key", "--limit", "3")),
    Case(("get", "sw/", "--prefix=true", "--keys-only=false")),
    Case(("--hex", "get", "sw/bin")),
    Case(("get", "sw/a", "--rev", "1000000")),
    Case(("get", "sw/a", "--consistency", "x")),
    Case(("get", "sw/", "--prefix", "--consistency", "s", "--keys-only", "--limit", "1")),
    # (--count-only is etcd 3.5's: etcdctl 3.4 has no such flag; test_lockstep covers it)
    # kv, writes
    Case(("put", "sw/m/k", "new", "--prev-kv"), setup=_keys(("sw/m/k", "old"))),
    Case(("put", "sw/m/fresh", "v", "--prev-kv"), setup=_keys()),
    Case(("put", "sw/m/in"), stdin=b"from stdin\n", setup=_keys()),
    Case(("del", "sw/m/k", "--prev-kv"), setup=_keys(("sw/m/k", "v"))),
    Case(("del", "sw/m/", "--prefix", "--prev-kv"), setup=_keys(*TXN_KEYS)),
    Case(("del", "sw/m/none"), setup=_keys()),
    Case(("del", "sw/m/", "--from-key", "--prev-kv"), setup=_keys(*TXN_KEYS)),
    Case(("put", "sw/m/a", "--ignore-value"), setup=_keys(*TXN_KEYS)),
    Case(("txn",), stdin=TXN, setup=_keys(*TXN_KEYS)),
    Case(("txn",), stdin=TXN_FAILS, setup=_keys(*TXN_KEYS)),
    Case(("txn", "-i=false"), stdin=b"\n\n\n", setup=_keys()),
    Case(("compaction", "{base}"), setup=_keys(("sw/m/c", "1"))),
    Case(("compaction", "--physical", "{base}"), setup=_keys(("sw/m/c", "1"))),
    Case(("compaction", "1"), setup=_keys(("sw/m/c", "1"))),
    # watch, where it ends by itself (event streams: test_interactive)
    Case(("watch", "-i"), stdin=b"bad\nfoo a\nwatch\n\n  \nwatch sw/a --rev x\n"),
    Case(("watch", "-i"), stdin=b"bad\nwatch sw/a --bogus\n"),
    Case(("watch", "-i"), stdin=b"watch sw/a --rev 2"),  # no newline: EOF before any watch
    Case(("watch", "-i=true", "ignored"), stdin=b"bad\n"),
    Case(("watch", "sw/a", "--rev", "2")),  # compacted by the fixture: the watch ends
    # leases
    Case(("lease", "grant", "600"), setup=_keys(), hide=("lease_id",)),
    Case(("lease", "revoke", LEASE_HEX), setup=_lease),
    Case(("lease", "revoke", "1234"), setup=_keys()),
    Case(("lease", "timetolive", LEASE_HEX), setup=_lease, hide=("ttl",)),
    Case(("lease", "timetolive", LEASE_HEX, "--keys"), setup=_lease, hide=("ttl",)),
    Case(("lease", "timetolive", "1234")),
    Case(("lease", "list"), setup=_lease),
    Case(("lease", "keep-alive", "--once", LEASE_HEX), setup=_lease),
    Case(("lease", "keep-alive", "--once", "1234")),
    # cluster and maintenance
    Case(("member", "list")),
    Case(("--hex", "member", "list")),
    Case(("member", "list", "extra")),  # etcdctl ignores what follows some commands
    Case(("endpoint", "status", "extra")),
    Case(("endpoint", "health", "extra"), hide=("took",)),
    Case(("lease", "list", "extra")),
    Case(("version", "extra"), hide=("version",)),
    Case(("endpoint", "status")),
    Case(("endpoint", "status", "--cluster")),
    Case(("endpoint", "health"), hide=("took",)),
    Case(("endpoint", "health", "--cluster"), hide=("took",)),
    Case(("alarm", "list")),
    Case(("defrag",)),
    Case(("defrag", "--cluster")),
    Case(("move-leader", "1234")),
    Case(("move-leader",)),
    Case(("move-leader", "xyz")),
    Case(("snapshot", "status", "{dir}/" + SNAPSHOT)),
    Case(("snapshot", "status", "{dir}/absent.db")),
    Case(("snapshot", "save", "{dir}/saved.db"), hide=("zap_log",)),
    Case(("version",), hide=("version",)),
    # users and roles (authentication stays off; test_auth covers it on)
    Case(("user", "add", "sweep-x:pw"), setup=_no_user("sweep-x")),
    Case(("user", "add", "sweep-u:pw")),  # already there: refused, nothing changes
    Case(("role", "add", "sweep-x"), setup=_no_user("sweep-x")),
    Case(("user", "list")),
    Case(("role", "list")),
    Case(("user", "get", "sweep-u")),
    Case(("user", "get", "sweep-u", "--detail")),
    Case(("user", "get", "nobody")),
    Case(("role", "get", "sweep-r")),
    Case(("role", "get", "nobody")),
    Case(("--hex", "del", "sw/m/", "--prefix", "--prev-kv"), setup=_keys(("sw/m/\x01", "\xe9"))),
    # last: an alarm raised by the setup, listed, then disarmed by each CLI (not protobuf,
    # which keyraftctl refuses, so leaving the alarm up)
    Case(("alarm", "list"), setup=_alarm),
    Case(("alarm", "disarm"), setup=_alarm, formats=FORMATS[:-1]),
    Case(("alarm", "list")),
]
# etcdctl 3.4.23 itself crashes here (etcd 3.4's alarm answer has no header, which its
# fields printer reads): keyraftctl refuses the format instead
ETCDCTL_PANICS = {(("alarm", "list"), "fields"), (("alarm", "disarm"), "fields")}

REVISION = re.compile(
    r'("(?:revision|create_revision|mod_revision|compact_revision)":)(\d+)'
    r'|("(?:Prev)?(?:Revision|CreateRevision|ModRevision|CompactRevision)" : )(\d+)'
    r"|(compacted revision )(\d+)"
)
HIDE = {
    "took": re.compile(
        r"(took = |\"took\":\"|\"Took\" : )[\d.]+[µnm]?s|(\| +)[\d.]+[µnm]?s(?= +\|)"
    ),
    "ttl": re.compile(r"(remaining\(|\"ttl\":|\"TTL\" : )-?\d+"),
    "lease_id": re.compile(r"(lease |\"ID\":|\"ID\" : )[0-9a-f]+"),
    "zap_log": re.compile(r'^\{"level":"info",.*\n()()', re.MULTILINE),  # etcdctl's own log
    "version": re.compile(r"^(?:etcdctl|keyraftctl) version: \S+()()"),
}
TABLE_PADDING = re.compile(r"(?<=[-+ |])[- ]+(?=[-+ |])")


def _relative(text: str, base: int) -> str:
    """Revisions as offsets from the revision the setup left (see the module docstring)."""

    def shift(match: re.Match[str]) -> str:
        prefix = match.group(1) or match.group(3) or match.group(5)
        number = match.group(2) or match.group(4) or match.group(6)
        return f"{prefix}R{int(number) - base:+d}"

    return REVISION.sub(shift, text)


def _hidden(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        mark = "" if name == "zap_log" else "*"  # etcdctl's log lines go altogether
        text = HIDE[name].sub(lambda m, mark=mark: (m.group(1) or m.group(2) or "") + mark, text)
    if "took" in names and text.startswith("+-"):  # the column's width follows the time
        text = TABLE_PADDING.sub(" ", text)
    return text


@pytest.fixture(scope="module")
def sweep_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    """A fresh etcd with a known key set, a user, a role, a lease and a saved snapshot."""
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.skip("real etcd and etcdctl are required")
    root = tmp_path_factory.mktemp("ctl-sweep")
    member = etcd_member(root, "sweep", ("--bcrypt-cost", "4"))
    try:
        member.start()
        etcd = Etcd(member, root)
        for key, value in (("sw/a", "1"), ("sw/b", "2"), ("sw/c", "3"), ("sw/b", "22")):
            etcd.put(key, value)
        etcd.put("sw/d", "4")
        for arguments in (
            ("put", "sw/bin", "--", '\udcff\x01é\t"'),
            ("user", "add", "sweep-u:pw"),
            ("role", "add", "sweep-r"),
            ("role", "grant-permission", "sweep-r", "read", "sw/", "--prefix"),
            ("user", "grant-role", "sweep-u", "sweep-r"),
            ("snapshot", "save", str(root / SNAPSHOT)),
        ):
            assert etcdctl(member.client_url, *arguments).code == 0, arguments
        _lease(etcd)
        etcd.call("/v3/kv/compaction", {"revision": 3})
        yield etcd
        etcd.http.close()
    finally:
        member.stop()


def _view(result: Result, case: Case, base: int) -> tuple[int, str, str]:
    out, err = result.text, result.error
    if case.setup is not None:
        out, err = _relative(out, base), _relative(err, base)
    return result.code, _hidden(out, case.hide), _hidden(err, case.hide)


def _run_both(etcd: Etcd, case: Case, fmt: str) -> list[tuple[int, str, str]]:
    """etcdctl's run, then keyraftctl's, each after the case's setup."""
    views = []
    for run in (etcdctl, invoke):
        if case.setup is not None:
            case.setup(etcd)
        base = etcd.revision()
        arguments = [a.format(base=base, dir=etcd.root) for a in case.arguments]
        result = run(etcd.member.client_url, "-w", fmt, *arguments, stdin=case.stdin)
        views.append(_view(result, case, base))
    return views


def _agreed(fmt: str, case: Case, theirs: tuple[int, str, str], ours: tuple[int, str, str]) -> bool:
    """Where keyraftctl may differ from etcdctl, and how (README, and etcdctl's own crash)."""
    if fmt == "protobuf":  # refused before anything is sent; argument errors come first
        return ours[:2] == (4, "") and ours[2].startswith(PROTOBUF_REFUSED)
    if (case.arguments, fmt) in ETCDCTL_PANICS:
        assert theirs[0] == 2 and "panic:" in theirs[2], theirs
        return ours == (4, "", f"Error: {fmt} not supported as output format\n")
    return False


def test_every_command_in_every_format(sweep_etcd: Etcd) -> None:
    mismatches = []
    for case in CASES:
        for fmt in case.formats:
            theirs, ours = _run_both(sweep_etcd, case, fmt)
            if theirs != ours and not _agreed(fmt, case, theirs, ours):
                line = " ".join(case.arguments)
                mismatches.append(f"-w {fmt} {line}\n  etcdctl:    {theirs}\n  keyraftctl: {ours}")
    assert not mismatches, f"{len(mismatches)} differ:\n" + "\n".join(mismatches)


def test_protobuf_is_refused_before_anything_is_sent(sweep_etcd: Etcd) -> None:
    before = sweep_etcd.revision()
    refused = invoke(sweep_etcd.member.client_url, "-w", "protobuf", "put", "sw/m/pb", "v")
    assert refused.code == 4 and refused.error.startswith(PROTOBUF_REFUSED)
    assert sweep_etcd.revision() == before


def _shape(text: str, url: str) -> str:
    """hashkv prints only numbers and the endpoint: keep where they stand, not what they are."""
    text = re.sub(r"-?\d+", "N", text.replace(url, "URL"))
    return TABLE_PADDING.sub(" ", text) if text.startswith("+-") else text


def test_hashkv_prints_as_etcdctl(sweep_etcd: Etcd, keyraft: Member) -> None:
    """etcd 3.4's gateway serves no HashKV (its HTTP path is Hash's), so keyraftctl asks
    keyraft, which serves it at etcd 3.5's path; etcdctl asks etcd over gRPC."""
    etcd = sweep_etcd.member
    for fmt in FORMATS[:-1]:
        for extra in ((), ("--cluster",)):
            arguments = ("-w", fmt, "endpoint", "hashkv", *extra)
            theirs = etcdctl(etcd.client_url, *arguments)
            ours = invoke(keyraft.client_url, *arguments)
            assert theirs.code == 0, theirs
            assert (ours.code, _shape(ours.text, keyraft.client_url), ours.error) == (
                theirs.code, _shape(theirs.text, etcd.client_url), theirs.error,
            ), (arguments, ours, theirs)  # fmt: skip
