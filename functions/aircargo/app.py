"""POST /aircargo (air waybills, cached per waybill). Thin: the routes live in `shiptrack.routes.aircargo`."""

from __future__ import annotations

from shiptrack.http import api_handler, build_resolver
from shiptrack.routes.aircargo import router

app = build_resolver(router)
lambda_handler = api_handler(app)
