"""The checked-in OpenAPI document is what the app generates, and names etcd's schemas."""

from __future__ import annotations

import json
from pathlib import Path

from keyraft.app.openapi_export import render

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_checked_in_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "openapi/openapi.json is stale: run `make openapi`"


def test_document_uses_etcd_schema_names_with_examples() -> None:
    document = json.loads(DOCUMENT.read_text())
    schemas = document["components"]["schemas"]
    for name in (
        "etcdserverpbRangeRequest",
        "etcdserverpbTxnRequest",
        "mvccpbKeyValue",
        "etcdserverpbResponseHeader",
    ):
        assert name in schemas
    range_operation = document["paths"]["/v3/kv/range"]["post"]
    body = range_operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/etcdserverpbRangeRequest"}
    assert body["example"]["key"] == "Zm9v"
    assert schemas["etcdserverpbRangeRequest"]["properties"]["key"]["description"]
