"""The building blocks of keyraft's OpenAPI document: etcd's JSON scalar forms (int64 as
strings, bytes as base64) and the shapes every operation's description is made of."""

from __future__ import annotations

INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$", "example": "42"}
UINT64 = {
    "type": "string",
    "format": "uint64",
    "pattern": "^[0-9]+$",
    "example": "10276657743932975437",
}
UINT32 = {"type": "integer", "format": "uint32", "minimum": 0, "example": 2929687755}
BYTES = {"type": "string", "format": "byte", "example": "Zm9v"}
BOOL = {"type": "boolean"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict, example: object = None) -> dict:
    media: dict = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def request_body(schema_name: str, example: object, required: bool | None = False) -> dict:
    """An operation's JSON request body (`required` None leaves the key out)."""
    body = {"content": json_content(ref(schema_name), example)}
    return body if required is None else {"required": required, **body}


def json_response(description: str, schema: dict) -> dict:
    return {"description": description, "content": json_content(schema)}


def object_schema(description: str, properties: dict) -> dict:
    return {"type": "object", "description": description, "properties": properties}
