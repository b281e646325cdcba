"""Google's error bodies, built in one place for every emulated endpoint.

Where it sits: used by every HTTP module of ``connectors.google_emulator``. API errors use the
classic envelope of the reference §7.1 (``errors[]`` always, ``status`` added as the current front end
does, ``details`` only where Google sends it, e.g. missing scopes). The OAuth token endpoint uses its own
``{"error", "error_description"}`` shape (§8.1).

Handlers may either return :func:`google_error` directly or raise :class:`ApiError`; ``app.py`` turns a
raised ``ApiError`` into the same response.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "FAILED_PRECONDITION",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error_body(
    code: int,
    reason: str,
    message: str,
    domain: str = "global",
    location: str | None = None,
    location_type: str | None = None,
    details: list[dict[str, Any]] | None = None,
    top_message: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location is not None:
        item["location"] = location
        item["locationType"] = location_type or "parameter"
    err: dict[str, Any] = {"errors": [item], "code": code, "message": top_message or message}
    if code in _STATUS:
        err["status"] = _STATUS[code]
    if details:
        err["details"] = details
    return {"error": err}


def google_error(
    code: int,
    reason: str,
    message: str,
    domain: str = "global",
    location: str | None = None,
    location_type: str | None = None,
    *,
    details: list[dict[str, Any]] | None = None,
    top_message: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSONResponse carrying Google's API error envelope."""
    return JSONResponse(
        error_body(code, reason, message, domain, location, location_type, details, top_message),
        status_code=code,
        headers=headers,
    )


def token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """The OAuth token endpoint's error shape ``{"error": ..., "error_description": ...}``."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class ApiError(Exception):
    """Raise from a handler to answer with a Google error envelope."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        top_message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        # The envelope is built once, by the same function google_error uses.
        self.body = error_body(code, reason, message, domain, location, location_type, details, top_message)
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.code, headers=self.headers)


# Frequently used errors (messages verbatim from the reference §7.2).
def not_found() -> ApiError:
    return ApiError(404, "notFound", "Not Found")


def bad_request(message: str, reason: str = "invalid", location: str | None = None) -> ApiError:
    return ApiError(400, reason, message, location=location, location_type="parameter" if location else None)


def required(field: str, message: str | None = None) -> ApiError:
    return ApiError(
        400,
        "required",
        message or f"Required field missing: {field}.",
        location=field,
        location_type="parameter",
    )


def forbidden_writer() -> ApiError:
    return ApiError(
        403, "requiredAccessLevel", "You need to have writer access to this calendar.", domain="calendar"
    )


def not_a_calendar_user() -> ApiError:
    return ApiError(
        403, "notACalendarUser", "The user must be signed up for Google Calendar.", domain="calendar"
    )


def forbidden_for_service_accounts() -> ApiError:
    return ApiError(
        403,
        "forbiddenForServiceAccounts",
        "Service accounts cannot invite attendees without Domain-Wide Delegation of Authority.",
        domain="calendar",
    )


def forbidden_for_non_organizer() -> ApiError:
    return ApiError(
        403,
        "forbiddenForNonOrganizer",
        "Shared properties can only be changed by the organizer of the event.",
        domain="calendar",
    )
