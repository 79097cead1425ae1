"""POST /webhooks/trackingmore/{token}: TrackingMore v2 pushes. Thin: the route lives in `shiptrack.routes.webhooks`."""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.webhooks import router

app = build_resolver(router)
lambda_handler = api_handler(app)
