"""Partial responses: Google's ``fields`` system parameter applied to an emulated JSON answer.

Where it sits: used by ``common.endpoint`` on every successful Calendar answer (errors are never
filtered). Syntax as Google documents it for its JSON APIs: a comma-separated list of field paths,
``a/b`` for a sub-field, ``a(b,c)`` for several sub-fields of ``a``, ``*`` for every field at a level;
selections apply to each element of an array. Asking for a field the answer does not have simply leaves
it out. A malformed expression (unbalanced parentheses, empty names) → 400 ``invalidParameter``
"Invalid field selection ..." naming ``fields``.

Why: a caller that reads a field it did not select would work against a lenient emulator and fail at
Google, so the emulator returns exactly what was asked for.
"""

from __future__ import annotations

from typing import Any

from connectors.google_emulator.errors import ApiError

Tree = dict[str, "Tree | None"]


def _invalid(expr: str) -> ApiError:
    return ApiError(
        400,
        "invalidParameter",
        f"Invalid field selection {expr}",
        location="fields",
        location_type="parameter",
    )


def _merge(into: Tree, key: str, sub: Tree | None) -> None:
    if key in into and into[key] is None:
        return  # already selected whole
    if sub is None or key not in into:
        into[key] = sub
        return
    current = into[key]
    assert current is not None
    for k, v in sub.items():
        _merge(current, k, v)


def parse(expr: str) -> Tree:
    """``"items(id,summary),nextPageToken"`` → ``{"items": {"id": None, "summary": None}, ...}``."""
    pos = 0

    def parse_list(depth: int) -> Tree:
        nonlocal pos
        tree: Tree = {}
        while True:
            path: list[str] = []
            name = ""
            while pos < len(expr) and expr[pos] not in ",()":
                ch = expr[pos]
                pos += 1
                if ch == "/":
                    if not name.strip():
                        raise _invalid(expr)
                    path.append(name.strip())
                    name = ""
                else:
                    name += ch
            if not name.strip():
                raise _invalid(expr)
            path.append(name.strip())
            sub: Tree | None = None
            if pos < len(expr) and expr[pos] == "(":
                pos += 1
                sub = parse_list(depth + 1)
                if pos >= len(expr) or expr[pos] != ")":
                    raise _invalid(expr)
                pos += 1
            for key in reversed(path[1:]):
                sub = {key: sub}
            _merge(tree, path[0], sub)
            if pos < len(expr) and expr[pos] == ",":
                pos += 1
                continue
            if depth == 0 and pos < len(expr):
                raise _invalid(expr)  # a stray ")"
            return tree

    return parse_list(0)


def select(value: Any, tree: Tree | None) -> Any:
    """The part of ``value`` that ``tree`` selects (arrays are filtered element by element)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [select(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key == "*":
            for k, v in value.items():
                out.setdefault(k, select(v, sub))
        elif key in value:
            out[key] = select(value[key], sub)
    return out


def apply(result: dict[str, Any], expr: str | None) -> dict[str, Any]:
    """``result`` reduced to the ``fields`` expression (unchanged when there is none)."""
    if expr is None or not expr.strip():
        return result
    selected = select(result, parse(expr))
    return selected if isinstance(selected, dict) else result
