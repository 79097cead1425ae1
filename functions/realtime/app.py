"""POST /trackings/realtime (live carrier lookup). Thin: the route lives in `shiptrack.routes.realtime`."""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.realtime import router

app = build_resolver(router)
lambda_handler = api_handler(app)
