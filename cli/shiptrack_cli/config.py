"""Where the CLI points by default: ``make dev``'s stack (docs/local-stack.md). Kept free of heavy imports."""

from __future__ import annotations

from typing import Final

API_URL_ENV: Final = "SHIPTRACK_API_URL"
API_KEY_ENV: Final = "SHIPTRACK_API_KEY"
LOCAL_AWS_URL_ENV: Final = "SHIPTRACK_LOCAL_AWS_URL"

DEFAULT_API_URL: Final = "http://127.0.0.1:3000"  # the local API Gateway
DEFAULT_API_KEY: Final = "local-dev-key"  # the local stack's only valid key (LOCAL_API_KEY)
DEFAULT_LOCAL_AWS_URL: Final = "http://127.0.0.1:5000"  # the local stack's moto server
