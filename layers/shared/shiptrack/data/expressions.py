"""DynamoDB condition expressions written as strings, each with its own placeholders."""

from __future__ import annotations

from typing import Any

__all__ = ["Expressions"]


class Expressions:
    """Key and filter conditions written as strings with their own placeholders.

    boto3's condition objects (``Key(...)``, ``Attr(...)``) are turned into strings by one builder per client that is
    reset on every request, so two threads querying through one resource can swap each other's placeholders (seen in
    the concurrency suite as a query on one index carrying another's key names). Strings never touch that builder.
    """

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def compare(self, attribute: str, operator: str, value: Any) -> str:
        return f"{self._name(attribute)} {operator} {self._value(value)}"

    def between(self, attribute: str, low: Any, high: Any) -> str:
        return f"{self._name(attribute)} BETWEEN {self._value(low)} AND {self._value(high)}"

    def params(self) -> dict[str, Any]:
        """``ExpressionAttributeNames`` / ``ExpressionAttributeValues`` for every condition written so far."""
        return {"ExpressionAttributeNames": dict(self.names), "ExpressionAttributeValues": dict(self.values)}

    def _name(self, attribute: str) -> str:
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def _value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder
