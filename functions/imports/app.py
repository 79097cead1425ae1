"""POST/GET /imports, GET /imports/{import_id}[/results]: bulk imports. Thin: the routes live in
`shiptrack.routes.imports`, the behaviour in `shiptrack.services.imports` and `shiptrack.services.import_results`.
"""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.imports import MAX_IMPORT_BODY_BYTES, router

app = build_resolver(router, max_body_bytes=MAX_IMPORT_BODY_BYTES)
lambda_handler = api_handler(app)
