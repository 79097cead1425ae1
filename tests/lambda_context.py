"""The Lambda context the handlers are invoked with in tests: what they use of it, with an injectable clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LambdaContext:
    """``remaining`` is injectable (no wall clock); the ARN follows the function name."""

    function_name: str = "TestFunction"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "test-request"
    remaining: Callable[[], int] = lambda: 900_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining()
