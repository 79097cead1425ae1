"""/webhook-endpoints…: storefront webhook endpoints and their delivery log.

Thin: the routes live in `shiptrack.routes.webhook_endpoints`, the behaviour in `shiptrack.services.webhook_endpoints`.
"""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.webhook_endpoints import router

app = build_resolver(router)
lambda_handler = api_handler(app)
