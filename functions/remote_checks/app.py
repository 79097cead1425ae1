"""POST /remote-checks and POST /transit-times (cached). Thin: the routes live in `shiptrack.routes.remote_checks`."""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.remote_checks import router

app = build_resolver(router)
lambda_handler = api_handler(app)
