"""KV answers compared field by field with real etcd 3.4 (ignoring only cluster_id,
member_id and raft_term). Each test works under its own key prefix; both servers always
see the same request sequence, so their revisions move in lockstep."""

from __future__ import annotations

import pytest

from tests.support.compare import Pair, b64


def prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return b64(bytes(raw))


def test_put_and_get(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("pg/a"), "value": b64("1")})
    body = pair.same("/v3/kv/range", {"key": b64("pg/a")})
    assert body["kvs"][0]["value"] == b64("1")
    pair.same("/v3/kv/range", {"key": b64("pg/missing")})


def test_put_prev_kv_overwrite_and_empty_value(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("pp/a"), "value": b64("1"), "prev_kv": True})
    body = pair.same("/v3/kv/put", {"key": b64("pp/a"), "value": b64("2"), "prev_kv": True})
    assert body["prev_kv"]["value"] == b64("1")
    pair.same("/v3/kv/put", {"key": b64("pp/b"), "value": ""})
    pair.same("/v3/kv/range", {"key": b64("pp/"), "range_end": prefix_end("pp/")})


def test_put_ignore_value_and_lease(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "value": b64("v")})
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "ignore_value": True, "prev_kv": True})
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "value": b64("w"), "ignore_lease": True})
    pair.same("/v3/kv/put", {"key": b64("pi/none"), "ignore_value": True})
    pair.same("/v3/kv/put", {"key": b64("pi/none"), "ignore_lease": True})
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "ignore_value": True, "value": b64("x")})
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "ignore_lease": True, "lease": 5})
    pair.same("/v3/kv/put", {"key": b64("pi/a"), "value": b64("x"), "lease": "12345"})
    pair.same("/v3/kv/range", {"key": b64("pi/a")})


def test_range_options(pair: Pair) -> None:
    for index, value in enumerate(["c", "a", "b", "a", ""]):
        pair.same("/v3/kv/put", {"key": b64(f"ro/{index}"), "value": b64(value)})
    pair.same("/v3/kv/put", {"key": b64("ro/1"), "value": b64("z")})
    end = prefix_end("ro/")
    base = {"key": b64("ro/"), "range_end": end}
    pair.same("/v3/kv/range", base)
    pair.same("/v3/kv/range", {**base, "limit": 2})
    pair.same("/v3/kv/range", {**base, "limit": "5"})
    pair.same("/v3/kv/range", {**base, "limit": -1})
    pair.same("/v3/kv/range", {**base, "count_only": True})
    pair.same("/v3/kv/range", {**base, "keys_only": True})
    pair.same("/v3/kv/range", {**base, "count_only": True, "limit": 1})
    for order in ("NONE", "ASCEND", "DESCEND", 2, 7):
        for target in ("KEY", "VERSION", "CREATE", "MOD", "VALUE"):
            pair.same("/v3/kv/range", {**base, "sort_order": order, "sort_target": target})
    pair.same("/v3/kv/range", {**base, "sort_order": "DESCEND", "limit": 2})
    pair.same(
        "/v3/kv/range", {**base, "sortOrder": "DESCEND", "sortTarget": "MOD", "keysOnly": True}
    )


def test_range_revision_filters(pair: Pair) -> None:
    first = pair.same("/v3/kv/put", {"key": b64("rf/a"), "value": b64("1")})
    revision = int(first["header"]["revision"])
    pair.same("/v3/kv/put", {"key": b64("rf/b"), "value": b64("2")})
    pair.same("/v3/kv/put", {"key": b64("rf/a"), "value": b64("3")})
    base = {"key": b64("rf/"), "range_end": prefix_end("rf/")}
    for name in (
        "min_mod_revision",
        "max_mod_revision",
        "min_create_revision",
        "max_create_revision",
    ):
        for offset in (0, 1, 2, 5):
            pair.same("/v3/kv/range", {**base, name: revision + offset})
    pair.same("/v3/kv/range", {**base, "min_mod_revision": revision + 1, "limit": 1})


def test_range_from_key_and_all_keys(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("zz/from"), "value": b64("1")})
    pair.same("/v3/kv/range", {"key": b64("zz/"), "range_end": "AA==", "keys_only": True})
    pair.same("/v3/kv/range", {"key": "AA==", "range_end": "AA==", "count_only": True})
    pair.same("/v3/kv/range", {"key": b64("zz/z"), "range_end": b64("zz/a")})


def test_historical_reads(pair: Pair) -> None:
    first = pair.same("/v3/kv/put", {"key": b64("hr/a"), "value": b64("1")})
    revision = int(first["header"]["revision"])
    pair.same("/v3/kv/put", {"key": b64("hr/a"), "value": b64("2")})
    pair.same("/v3/kv/deleterange", {"key": b64("hr/a")})
    pair.same("/v3/kv/put", {"key": b64("hr/a"), "value": b64("3")})
    for offset in range(-1, 5):
        pair.same("/v3/kv/range", {"key": b64("hr/a"), "revision": revision + offset})
    pair.same("/v3/kv/range", {"key": b64("hr/a"), "revision": revision + 1000})
    pair.same("/v3/kv/range", {"key": b64("hr/a"), "revision": -3})


def test_delete_range(pair: Pair) -> None:
    for name in ("a", "b", "c"):
        pair.same("/v3/kv/put", {"key": b64(f"dr/{name}"), "value": b64(name)})
    pair.same("/v3/kv/deleterange", {"key": b64("dr/a")})
    pair.same("/v3/kv/deleterange", {"key": b64("dr/a")})
    pair.same(
        "/v3/kv/deleterange",
        {"key": b64("dr/"), "range_end": prefix_end("dr/"), "prev_kv": True},
    )
    pair.same("/v3/kv/range", {"key": b64("dr/"), "range_end": prefix_end("dr/")})
    pair.same("/v3/kv/deleterange", {"key": b64("dr/x"), "prev_kv": True})


def test_txn_compares(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("tx/a"), "value": b64("10")})
    pair.same("/v3/kv/put", {"key": b64("tx/a"), "value": b64("20")})
    pair.same("/v3/kv/put", {"key": b64("tx/b"), "value": b64("5")})
    operands = {
        "VERSION": ("version", [0, 1, 2, 3]),
        "CREATE": ("create_revision", [0, 1, 10_000]),
        "MOD": ("mod_revision", [0, 1, 10_000]),
        "VALUE": ("value", [b64("10"), b64("20"), b64("3"), ""]),
        "LEASE": ("lease", [0, 1]),
    }
    for target, (field, values) in operands.items():
        for result in ("EQUAL", "GREATER", "LESS", "NOT_EQUAL"):
            for value in values:
                for key in ("tx/a", "tx/missing"):
                    compare = {"key": b64(key), "target": target, "result": result, field: value}
                    pair.same(
                        "/v3/kv/txn",
                        {
                            "compare": [compare],
                            "success": [{"request_range": {"key": b64("tx/b")}}],
                            "failure": [{"request_range": {"key": b64("tx/a"), "keys_only": True}}],
                        },
                    )


def test_txn_range_compare_and_writes(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("tw/a"), "value": b64("1")})
    pair.same("/v3/kv/put", {"key": b64("tw/b"), "value": b64("1")})
    end = prefix_end("tw/")
    body = {
        "compare": [{"key": b64("tw/"), "range_end": end, "target": "VALUE", "value": b64("1")}],
        "success": [
            {"request_put": {"key": b64("tw/c"), "value": b64("new"), "prev_kv": True}},
            {"request_range": {"key": b64("tw/"), "range_end": end}},
            {"request_delete_range": {"key": b64("tw/a"), "prev_kv": True}},
            {"request_range": {"key": b64("tw/"), "range_end": end, "count_only": True}},
        ],
        "failure": [{"request_put": {"key": b64("tw/failed"), "value": b64("x")}}],
    }
    pair.same("/v3/kv/txn", body)
    pair.same("/v3/kv/txn", body)
    pair.same("/v3/kv/txn", {})
    pair.same("/v3/kv/txn", {"compare": [{"key": b64("tw/b")}]})
    pair.same(
        "/v3/kv/txn",
        {
            "success": [
                {"requestRange": {"key": b64("tw/b")}},
                {"requestPut": {"key": b64("tw/b"), "value": "eA=="}},
            ]
        },
    )


def test_txn_nested_and_duplicates(pair: Pair) -> None:
    pair.same("/v3/kv/put", {"key": b64("tn/a"), "value": b64("1")})
    nested = {
        "compare": [
            {"key": b64("tn/a"), "target": "MOD", "result": "NOT_EQUAL", "mod_revision": "1"}
        ],
        "success": [
            {
                "request_txn": {
                    "success": [{"request_put": {"key": b64("tn/b"), "value": b64("x")}}]
                }
            },
            {"request_range": {"key": b64("tn/b")}},
            {
                "request_txn": {
                    "compare": [{"key": b64("tn/zz"), "target": "VERSION", "result": "GREATER"}]
                }
            },
        ],
    }
    pair.same("/v3/kv/txn", nested)
    duplicates = [
        [{"request_put": {"key": b64("tn/c"), "value": ""}}] * 2,
        [
            {"request_delete_range": {"key": b64("tn/"), "range_end": prefix_end("tn/")}},
            {"request_put": {"key": b64("tn/c"), "value": ""}},
        ],
        [
            {"request_txn": {"success": [{"request_put": {"key": b64("tn/c"), "value": ""}}]}},
            {"request_put": {"key": b64("tn/c"), "value": ""}},
        ],
        [
            {
                "request_txn": {
                    "success": [{"request_put": {"key": b64("tn/c"), "value": ""}}],
                    "failure": [{"request_put": {"key": b64("tn/c"), "value": ""}}],
                }
            }
        ],
        [
            {"request_delete_range": {"key": b64("tn/c")}},
            {"request_delete_range": {"key": b64("tn/c")}},
        ],
    ]
    for ops in duplicates:
        pair.same("/v3/kv/txn", {"success": ops})


def test_txn_op_errors(pair: Pair) -> None:
    pair.same("/v3/kv/txn", {"success": [{}]})
    pair.same("/v3/kv/txn", {"compare": [{}]})
    pair.same("/v3/kv/txn", {"success": [{"request_put": {"key": "", "value": "eA=="}}]})
    pair.same("/v3/kv/txn", {"success": [{"request_put": {"key": b64("to/a"), "lease": 99}}]})
    pair.same(
        "/v3/kv/txn", {"success": [{"request_put": {"key": b64("to/a"), "ignore_value": True}}]}
    )
    pair.same(
        "/v3/kv/txn", {"success": [{"request_range": {"key": b64("to/a"), "revision": 10**6}}]}
    )
    pair.same("/v3/kv/txn", {"compare": [{"key": b64("to/a"), "target": "FOO"}]})
    pair.same("/v3/kv/txn", {"compare": [{"key": b64("to/a"), "result": "MAYBE"}]})
    too_many = [{"request_put": {"key": b64(f"to/{i}"), "value": ""}} for i in range(129)]
    pair.same("/v3/kv/txn", {"success": too_many})
    pair.same("/v3/kv/txn", {"success": too_many[:128]})
    pair.same(
        "/v3/kv/range", {"key": b64("to/"), "range_end": prefix_end("to/"), "count_only": True}
    )


def test_compaction(pair: Pair) -> None:
    first = pair.same("/v3/kv/put", {"key": b64("cp/a"), "value": b64("1")})
    revision = int(first["header"]["revision"])
    pair.same("/v3/kv/put", {"key": b64("cp/a"), "value": b64("2")})
    pair.same("/v3/kv/deleterange", {"key": b64("cp/a")})
    pair.same("/v3/kv/put", {"key": b64("cp/a"), "value": b64("3")})
    pair.same("/v3/kv/compaction", {"revision": revision + 1})
    for offset in range(0, 5):
        pair.same("/v3/kv/range", {"key": b64("cp/a"), "revision": revision + offset})
    pair.same("/v3/kv/compaction", {"revision": revision + 1})
    pair.same("/v3/kv/compaction", {"revision": revision})
    pair.same("/v3/kv/compaction", {"revision": 10**9})
    pair.same("/v3/kv/compaction", {"revision": 0})
    pair.same("/v3/kv/compaction", {})
    pair.same("/v3/kv/compaction", {"revision": revision + 3, "physical": True})
    pair.same("/v3/kv/range", {"key": b64("cp/a")})
    pair.same(
        "/v3/kv/txn",
        {"success": [{"request_range": {"key": b64("cp/a"), "revision": revision}}]},
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  ",
        b"null",
        b"notjson",
        b'"str"',
        b"5",
        b"[]",
        b'{"key":""}',
        b'{"key":null}',
        b'{"key":5}',
        b'{"key":["a"]}',
        b'{"key":{}}',
        b'{"key":"!!"}',
        b'{"key":"YQ"}',
        b'{"key":"YQ="}',
        b'{"key":"Y WJj"}',
        b'{"key":"YWJ\\nj"}',
        b'{"key":"YQ==","limit":true}',
        b'{"key":"YQ==","limit":"abc"}',
        b'{"key":"YQ==","limit":"12x"}',
        b'{"key":"YQ==","limit":" 5"}',
        b'{"key":"YQ==","limit":""}',
        b'{"key":"YQ==","limit":1.5}',
        b'{"key":"YQ==","keys_only":"yes"}',
        b'{"key":"YQ==","keys_only":1}',
        b'{"key":"YQ==","sort_order":"BAD"}',
        b'{"key":"YQ==","sort_order":true}',
        b'{"key":"YQ==","unknown":1,"Key":"x"}',
        b'{"key":"YQ==","revision":null,"range_end":null}',
        b'{"key":"YQ=="',
        b'{"key" "YQ=="}',
        b'{"key":"YQ==",}',
        b'{"key":"YQ=="} trailing',
        b'{"key":"YQ==","key":"Yg=="}',
        b'{"key":"YQ==","limit":tru}',
        b'{"key":"\\x"}',
        b'{"key":"YQ==","limit":-}',
    ],
)
def test_bad_range_bodies(pair: Pair, body: bytes) -> None:
    pair.same("/v3/kv/range", body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"compare":{}}',
        b'{"success":"x"}',
        b'{"success":[5]}',
        b'{"success":[{"request_put":5}]}',
        b'{"success":[{"request_put":{"key":"YQ==","value":"!"}}]}',
    ],
)
def test_bad_txn_bodies(pair: Pair, body: bytes) -> None:
    pair.same("/v3/kv/txn", body)


def test_request_size_limits(pair: Pair) -> None:
    near_limit = b64(b"x" * (1536 * 1024 - 100))
    pair.same("/v3/kv/put", {"key": b64("sz/a"), "value": near_limit})
    over = b64(b"x" * (1536 * 1024))
    pair.same("/v3/kv/put", {"key": b64("sz/a"), "value": over})
    way_over = b64(b"x" * (3 * 1024 * 1024))
    pair.same("/v3/kv/put", {"key": b64("sz/a"), "value": way_over})
    pair.same("/v3/kv/range", {"key": b64("sz/a"), "keys_only": True})


def test_http_surface(pair: Pair) -> None:
    pair.same("/v3/kv/range", b"", method="GET")
    pair.same("/v3/kv/nope", b"{}")
    pair.same("/nope", b"", method="GET")
    pair.same("/v3alpha/kv/range", {"key": b64("a")})
    pair.same("/v3beta/kv/range", {"key": b64("hs/a")})
    pair.same("/health", b"", method="GET")
    pair.same("/v3/kv/range", b"", method="OPTIONS")
    expected, actual = pair.both("/version", b"", method="GET")
    assert expected.status == actual.status == 200
    assert set(expected.body) == set(actual.body) == {"etcdserver", "etcdcluster"}
    # the same versions as etcd 3.4.23, and the one status reports
    assert actual.body == expected.body
    status = pair.send(pair.keyraft, "/v3/maintenance/status", {}).json()
    assert status["version"] == actual.body["etcdserver"]
    etcd_headers = pair.send(pair.etcd, "/v3/kv/range", {"key": b64("a")}).headers
    keyraft_headers = pair.send(pair.keyraft, "/v3/kv/range", {"key": b64("a")}).headers
    for name in (
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "content-type",
    ):
        assert etcd_headers[name] == keyraft_headers[name]


def test_maintenance_and_cluster(pair: Pair) -> None:
    expected, actual = pair.both("/v3/maintenance/status", {})
    assert expected.status == actual.status == 200
    assert set(expected.body) == set(actual.body)
    assert expected.body["header"] == actual.body["header"]
    assert actual.body["leader"] and actual.body["raftIndex"] and actual.body["dbSize"]
    expected, actual = pair.both("/v3/cluster/member/list", {})
    assert expected.status == actual.status == 200
    assert expected.body["header"] == actual.body["header"]
    assert {tuple(sorted(member)) for member in expected.body["members"]} == {
        tuple(sorted(member)) for member in actual.body["members"]
    }
    assert len(actual.body["members"]) == (1 if pair.topology == "single" else 3)
    assert [pair.keyraft.client_url] in [m["clientURLs"] for m in actual.body["members"]]
    pair.same("/v3/maintenance/alarm", {})
    pair.same("/v3/maintenance/alarm", {"action": "GET"})
