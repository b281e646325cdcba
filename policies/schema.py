"""The one schema of tenant settings: a base for each policy's pydantic model and the error it raises.

Where it sits: pure, below everything. Each policy module (:mod:`policies.privacy`,
:mod:`policies.notifications`, :mod:`policies.rooms`, :mod:`policies.successor`) declares its settings once
as a :class:`SettingsSection`; :mod:`policies.settings` gathers them into the whole
``Tenant.settings`` document. The same model validates a write (the admin REST API, the Integration page,
``muster tenant set``) and a read (the reconcile, the organizer lifecycle), so a value a form can store is
a value the engine accepts, and a stored value the engine refuses is reported by name.

Every refusal is a :class:`SettingError` (a ``ValueError``) whose ``field`` is the dotted path of the
setting (``rooms.headroom``) and whose message says what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError


class SettingError(ValueError):
    """A setting that is not valid. ``field`` is its dotted path, ``message`` what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


#: pydantic error types → the phrase a person reads.
_PHRASES = {
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "string_type": "must be text",
    "missing": "is required",
}


def _phrase(error: Mapping[str, Any], known: str) -> str:
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        return f"unknown setting; known: {known}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error.get("msg", "")))
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return str(error.get("msg", "out of range")).lower().replace("input should be", "must be")
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        return "must be one of " + expected.replace("' or '", ", ").replace("'", "")
    return _PHRASES.get(kind, str(error.get("msg", "is not valid")))


class SettingsSection(BaseModel):
    """One section of ``Tenant.settings``: strict types, no unknown keys, defaults for what is absent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    #: The key of this section in ``Tenant.settings`` (``"rooms"``).
    section: ClassVar[str] = ""
    #: What is said when the section is not an object at all.
    not_object: ClassVar[str] = "must be an object"

    @classmethod
    def parse(cls, data: Any) -> Self:
        """Validate stored or submitted data (None = all defaults). Raise :class:`SettingError`."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SettingError(cls.section, cls.not_object)
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
            known = ", ".join(f.alias or name for name, f in cls.model_fields.items())
            raise SettingError(
                f"{cls.section}.{path}" if path else cls.section, _phrase(dict(first), known)
            ) from None

    def stored(self) -> dict[str, Any]:
        """The JSON stored in ``Tenant.settings[section]`` (stored key names, every value explicit)."""
        return self.model_dump(mode="json", by_alias=True)
