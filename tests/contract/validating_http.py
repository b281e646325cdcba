"""Schema-checking transport for contract tests.

Sits between the real ``googleapiclient`` and the emulator: an ``httplib2.Http`` subclass that, after
every response, maps the request (method + path) to its method in the discovery documents bundled with
google-api-python-client and checks the JSON body against that method's response schema (``$ref``
resolved; types string/integer/boolean/number/array/object; ``format: int64`` carried as a string;
unknown fields rejected). Error bodies are checked against Google's error envelope. Batch responses are
split and each part is checked against the method of the matching request part.

Dependency-free on purpose: only the standard library, httplib2 and the bundled discovery docs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from typing import Any
from urllib.parse import urlsplit

import httplib2
from googleapiclient.discovery_cache import get_static_doc

API_DOCS: tuple[tuple[str, str], ...] = (
    ("calendar", "v3"),
    ("admin", "directory_v1"),
    ("admin", "datatransfer_v1"),
)

# Google's error envelope (errors page + front-end additions, reference §7.1).
_ERROR_ITEM = {
    "type": "object",
    "properties": {
        "domain": {"type": "string"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "location": {"type": "string"},
        "locationType": {"type": "string"},
        "extendedHelp": {"type": "string"},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "errors"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "errors": {"type": "array", "items": _ERROR_ITEM, "minItems": 1},
                "status": {"type": "string"},
                "details": {"type": "array", "items": {"type": "any"}},
            },
        }
    },
}


class SchemaViolation(AssertionError):
    """A response body that a real Google API could not have sent (per the discovery schema)."""


@dataclass(frozen=True)
class Route:
    api: str
    method_id: str
    http_method: str
    pattern: re.Pattern[str]
    literal_len: int
    response_ref: str | None
    schemas: dict[str, Any]


def _template_to_regex(template: str) -> tuple[re.Pattern[str], int]:
    out: list[str] = []
    literal = 0
    pos = 0
    for m in re.finditer(r"\{(\+?)([^}]+)\}", template):
        chunk = template[pos : m.start()]
        out.append(re.escape(chunk))
        literal += len(chunk)
        out.append(".+" if m.group(1) else "[^/]+")
        pos = m.end()
    tail = template[pos:]
    out.append(re.escape(tail))
    literal += len(tail)
    return re.compile("^/" + "".join(out) + "$"), literal


def _walk_methods(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(resource.get("methods", {}).values())
    for sub in resource.get("resources", {}).values():
        found.extend(_walk_methods(sub))
    return found


def load_routes() -> list[Route]:
    routes: list[Route] = []
    for api, version in API_DOCS:
        doc = json.loads(get_static_doc(api, version))
        service_path = doc.get("servicePath", "")
        schemas = doc["schemas"]
        for method in _walk_methods(doc):
            for key in ("path", "flatPath"):
                if key not in method:
                    continue
                pattern, literal = _template_to_regex(service_path + method[key])
                ref = method.get("response", {}).get("$ref")
                routes.append(
                    Route(api, method["id"], method["httpMethod"], pattern, literal, ref, schemas)
                )
    routes.sort(key=lambda r: -r.literal_len)
    return routes


_ROUTES: list[Route] | None = None


def routes() -> list[Route]:
    global _ROUTES
    if _ROUTES is None:
        _ROUTES = load_routes()
    return _ROUTES


def find_route(method: str, path: str) -> Route | None:
    for route in routes():
        if route.http_method == method.upper() and route.pattern.match(path):
            return route
    return None


_INT64 = re.compile(r"^-?\d+$")
_UINT64 = re.compile(r"^\d+$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def validate(value: Any, schema: dict[str, Any], schemas: dict[str, Any], where: str = "$") -> list[str]:
    """Return the list of problems of ``value`` against a discovery ``schema`` (empty when valid)."""
    if "$ref" in schema:
        return validate(value, schemas[schema["$ref"]], schemas, where)
    kind = schema.get("type")
    problems: list[str] = []
    if kind in (None, "any"):
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected string, got {type(value).__name__} {value!r}"]
        fmt = schema.get("format")
        if fmt == "int64" and not _INT64.match(value):
            problems.append(f"{where}: int64 string expected, got {value!r}")
        elif fmt == "uint64" and not _UINT64.match(value):
            problems.append(f"{where}: uint64 string expected, got {value!r}")
        elif fmt == "date-time" and not _DATETIME.match(value):
            problems.append(f"{where}: RFC 3339 date-time expected, got {value!r}")
        elif fmt == "date" and not _DATE.match(value):
            problems.append(f"{where}: date expected, got {value!r}")
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} not in {schema['enum']}")
        return problems
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: expected integer, got {type(value).__name__} {value!r}"]
        return problems
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{where}: expected number, got {type(value).__name__} {value!r}"]
        return problems
    if kind == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: expected boolean, got {type(value).__name__} {value!r}"]
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected array, got {type(value).__name__}"]
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where}: at least {schema['minItems']} item(s) expected")
        item_schema = schema.get("items", {})
        for i, item in enumerate(value):
            problems.extend(validate(item, item_schema, schemas, f"{where}[{i}]"))
        return problems
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected object, got {type(value).__name__}"]
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: missing required field {name!r}")
        for name, item in value.items():
            if name in props:
                problems.extend(validate(item, props[name], schemas, f"{where}.{name}"))
            elif extra is not None:
                problems.extend(validate(item, extra, schemas, f"{where}.{name}"))
            else:
                problems.append(f"{where}: unknown field {name!r}")
        return problems
    return [f"{where}: unsupported schema type {kind!r}"]


def check_response(method: str, path: str, status: int, body: bytes, content_type: str) -> list[str]:
    """Problems with one (non-batch) response; ``path`` is the raw request path (no query)."""
    route = find_route(method, path)
    if route is None:
        return []  # not a discovery method (token endpoint, control API, pages)
    if status == 204:
        return [] if not body.strip() else [f"{route.method_id}: 204 with a body"]
    if status == 304:
        return []
    if "json" not in content_type.lower():
        return [f"{route.method_id}: {status} answered with content-type {content_type!r}"]
    try:
        data = json.loads(body or b"null")
    except ValueError as exc:
        return [f"{route.method_id}: body is not JSON ({exc})"]
    if status >= 300:
        problems = validate(data, ERROR_SCHEMA, {}, "$")
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("code") != status:
            problems.append(f"$.error.code {data['error'].get('code')!r} != HTTP {status}")
        return [f"{route.method_id} {status}: {p}" for p in problems]
    if route.response_ref is None:
        return [] if data in (None, {}) else [f"{route.method_id}: body on a method without response"]
    problems = validate(data, {"$ref": route.response_ref}, route.schemas)
    return [f"{route.method_id} ({route.response_ref}): {p}" for p in problems]


def _parse_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    message = BytesParser(policy=HTTP_POLICY).parsebytes(raw)
    parts: list[tuple[dict[str, str], bytes]] = []
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        headers = {k.lower(): str(v) for k, v in part.items()}
        payload = part.get_payload(decode=True)
        parts.append((headers, payload if isinstance(payload, bytes) else b""))
    return parts


def _split_http(message: bytes) -> tuple[str, dict[str, str], bytes]:
    text = message.replace(b"\r\n", b"\n")
    head, _, rest = text.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return lines[0], headers, rest


def check_batch(
    request_ct: str, request_body: bytes, response_ct: str, response_body: bytes
) -> list[str]:
    """Check each part of a batch response against the method of the request part it answers."""
    requests: dict[str, tuple[str, str]] = {}
    for headers, payload in _parse_multipart(request_ct, request_body):
        status_line, _, _ = _split_http(payload)
        verb, target = status_line.split(" ")[:2]
        requests[headers.get("content-id", "").strip("<>")] = (verb, urlsplit(target).path)
    problems: list[str] = []
    for headers, payload in _parse_multipart(response_ct, response_body):
        cid = headers.get("content-id", "")
        if not cid.startswith("<response-"):
            problems.append(f"batch part without a response Content-ID: {cid!r}")
            continue
        if b"\r\n\r\n" not in payload:
            problems.append(f"batch part {cid}: inner headers not separated by CRLF CRLF")
            continue
        key = cid[len("<response-") : -1]
        if key not in requests:
            problems.append(f"batch part {cid}: no request part with that Content-ID")
            continue
        status_line, inner_headers, inner_body = _split_http(payload)
        status = int(status_line.split(" ")[1])
        verb, path = requests[key]
        problems.extend(
            check_response(verb, path, status, inner_body, inner_headers.get("content-type", ""))
        )
    return problems


class ValidatingHttp(httplib2.Http):  # type: ignore[misc]
    """``httplib2.Http`` that raises :class:`SchemaViolation` on a response Google could not send."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.violations: list[str] = []
        self.checked = 0

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[httplib2.Response, bytes]:
        response, content = super().request(uri, method, body, headers, *args, **kwargs)
        path = urlsplit(uri).path
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        content_type = response.get("content-type", "")
        if path.startswith("/batch"):
            raw = body.encode() if isinstance(body, str) else (body or b"")
            if response.status < 300:
                problems = check_batch(lowered.get("content-type", ""), raw, content_type, content)
            else:
                problems = check_response("POST", path, response.status, content, content_type)
        else:
            # Segments stay percent-encoded: path parameters never contain a literal "/".
            problems = check_response(method, path, response.status, content, content_type)
        self.checked += 1
        if problems:
            self.violations.extend(problems)
            raise SchemaViolation(f"{method} {path}: " + "; ".join(problems[:10]))
        return response, content
