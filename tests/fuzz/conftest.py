"""Fixtures of the fuzz suite: the in-process system of the reliability suite."""

from tests.reliability.harness import dynamodb_key_limits, system

__all__ = ["dynamodb_key_limits", "system"]
