"""POST/GET /trackings, POST /trackings/batch, GET/PATCH/DELETE /trackings/{carrier_code}/{tracking_number}.

Thin: the routes live in `shiptrack.routes.trackings`, the behaviour in `shiptrack.services` (create, reads,
update, delete).
"""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.trackings import router

app = build_resolver(router)
lambda_handler = api_handler(app)
