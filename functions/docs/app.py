"""GET /openapi.json and GET /docs: the whole API's OpenAPI document and Swagger UI.

Thin: the routes live in `shiptrack.routes.docs`. No metrics: the page emits none worth paying for.
"""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.docs import router

app = build_resolver(router)
lambda_handler = api_handler(app, emit_metrics=False)
