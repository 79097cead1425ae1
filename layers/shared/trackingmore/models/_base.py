"""The lenient half of the models: conversions that never raise, and the base of every response model.

Response models are tolerant: TrackingMore's v2 payloads vary between endpoints and over time (reference §6), so every
field is optional, the literal string ``"null"`` means ``None``, unknown fields are kept (``model_extra``) and a value
of the wrong shape degrades to the field's default instead of failing the whole response.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)


def is_null_text(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() == "null"


def to_instant(value: object) -> datetime | None:
    """ISO-8601 with an offset, or unix seconds, to an aware datetime; anything else to ``None``.

    TrackingMore sends ``created_at``/``updated_at`` with an offset (``+08:00`` live, ``+00:00`` in docs,
    reference §1). A value without one is not guessed: its zone is unknown, so it becomes ``None``; so does one
    that has no UTC equivalent (outside ``datetime``'s range once converted).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC) if value > 0 else None
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip())
        else:
            return None
        if parsed.tzinfo is None:
            return None
        # An offset time at the edge of datetime's range (0001-01-01T00:00+01:00) has no UTC equivalent: it is no
        # usable instant, and every consumer converts to UTC.
        parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed


def _to_optional_text(value: object) -> object:
    """``0``, ``""``, ``null`` and ``"null"`` mean "not set" (``order_create_time``, reference §3.1)."""
    if value is None or isinstance(value, bool) or value in (0, "0"):
        return None
    if isinstance(value, str) and (not value.strip() or is_null_text(value)):
        return None
    return value


def _to_email_list(value: object) -> list[str]:
    """``customer_email`` is a string in live data and a list in docs (reference §3.4): always a list."""
    raw: list[object] = list(value) if isinstance(value, list | tuple) else [value]
    emails: list[str] = []
    for item in raw:
        if isinstance(item, str):
            emails.extend(part.strip() for part in item.split(",") if part.strip() and not is_null_text(part))
    return emails


def _to_loose_bool(value: object) -> bool | None:
    """``true``/``false`` as JSON booleans, strings (``"true"``) or 0/1 (``archived``, reference §3.5)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    return None


def _to_number_text(value: object) -> object:
    """Percentages may come as ``"35.2%"``; keep the number."""
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        return text or None
    return value


def only_mappings(value: object) -> object:
    """Drop list entries that are not JSON objects so one bad entry cannot blank the whole list."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return value


Instant = Annotated[datetime | None, BeforeValidator(to_instant)]
OptionalText = Annotated[str | None, BeforeValidator(_to_optional_text)]
LooseBool = Annotated[bool | None, BeforeValidator(_to_loose_bool)]
EmailList = Annotated[list[str], BeforeValidator(_to_email_list)]
Ratio = Annotated[float | None, BeforeValidator(_to_number_text)]


class ResponseModel(BaseModel):
    """Base of everything parsed from TrackingMore: accepts what it gets, keeps what it does not know."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        coerce_numbers_to_str=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _literal_null_is_none(cls, data: Any) -> Any:
        # Older v2 responses send the string "null" for unset fields (reference §3.1).
        if isinstance(data, Mapping):
            return {key: None if is_null_text(value) else value for key, value in data.items()}
        return data

    @field_validator("*", mode="wrap")
    @classmethod
    def _wrong_shape_is_default(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # A field of an unexpected shape must not fail the whole tracking: fall back to the field's default.
        try:
            return handler(value)
        except ValidationError:
            if info.field_name is None:
                raise
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
