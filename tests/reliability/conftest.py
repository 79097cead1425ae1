"""Fixtures of the reliability suite (the harness is shared with tests/fuzz)."""

from tests.reliability.harness import dynamodb_key_limits, system

__all__ = ["dynamodb_key_limits", "system"]
