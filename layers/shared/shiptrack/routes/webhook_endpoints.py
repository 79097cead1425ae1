"""Routes of WebhookEndpointsFunction: storefront webhook endpoints, their secrets, pings and delivery log.

Thin: validate (Powertools + pydantic), call one service function with the function's dependencies
(:func:`shiptrack.compose.webhook_endpoints`), shape the response. Errors are domain errors answered as problem+json.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from shiptrack import compose
from shiptrack import webhook_models as models
from shiptrack.http import json_response, model_response, route_responses
from shiptrack.routes._params import CursorQuery
from shiptrack.services import webhook_endpoints as service
from shiptrack.services.webhook_endpoints import MAX_ENDPOINTS

__all__ = ["router"]

router = Router()  # type: ignore[no-untyped-call]

TAGS = ["Webhook endpoints"]

EndpointIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_]+$", description="Endpoint id, `ep_…`")
]
DeliveryIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_]+$", description="Delivery id, `dlv_…`")
]


@router.post(
    "/webhook-endpoints",
    summary="Register a webhook endpoint",
    description=(
        "Events are POSTed to `url`, signed per Standard Webhooks with the returned `secret` (shown only here and "
        "on rotation). `url` must be https and resolve only to public addresses. `events` leaves out nothing when "
        f"absent. At most {MAX_ENDPOINTS} endpoints."
    ),
    tags=TAGS,
    operation_id="createWebhookEndpoint",
    status_code=201,
    responses=route_responses({201: model_response("Created, with its secret", models.WebhookEndpointWithSecret)}, 409),
)
def create_endpoint(request: Annotated[models.CreateEndpointRequest, Body()]) -> Response[str]:
    deps = compose.webhook_endpoints()
    created = service.create_endpoint(request, endpoints=deps.endpoints, allow_loopback=deps.allow_loopback)
    return json_response(created, 201)


@router.get(
    "/webhook-endpoints",
    summary="List webhook endpoints",
    description="Newest first. Pass `next_cursor` back as `cursor` for the next page.",
    tags=TAGS,
    operation_id="listWebhookEndpoints",
    responses=route_responses({200: model_response("One page", models.WebhookEndpointList)}),
)
def list_endpoints(
    limit: Annotated[int, Query(ge=1, le=models.MAX_ENDPOINT_LIST_LIMIT)] = 25, cursor: CursorQuery = None
) -> Response[str]:
    return json_response(service.list_endpoints(limit, cursor, endpoints=compose.webhook_endpoints().endpoints))


@router.get(
    "/webhook-endpoints/<endpoint_id>",
    summary="Get a webhook endpoint",
    tags=TAGS,
    operation_id="getWebhookEndpoint",
    responses=route_responses({200: model_response("The endpoint", models.WebhookEndpoint)}, 404),
)
def get_endpoint(endpoint_id: EndpointIdPath) -> Response[str]:
    return json_response(service.get_endpoint(endpoint_id, endpoints=compose.webhook_endpoints().endpoints))


@router.patch(
    "/webhook-endpoints/<endpoint_id>",
    summary="Change a webhook endpoint",
    description="`url`, `events`, `description`, and `status` (`disabled` stops deliveries, `enabled` resumes).",
    tags=TAGS,
    operation_id="updateWebhookEndpoint",
    responses=route_responses({200: model_response("The endpoint", models.WebhookEndpoint)}, 404, 409),
)
def update_endpoint(
    endpoint_id: EndpointIdPath, request: Annotated[models.UpdateEndpointRequest, Body()]
) -> Response[str]:
    deps = compose.webhook_endpoints()
    updated = service.update_endpoint(
        endpoint_id, request, endpoints=deps.endpoints, allow_loopback=deps.allow_loopback
    )
    return json_response(updated)


@router.delete(
    "/webhook-endpoints/<endpoint_id>",
    summary="Delete a webhook endpoint",
    description="Pending deliveries to it are canceled; its delivery log expires with the retention.",
    tags=TAGS,
    operation_id="deleteWebhookEndpoint",
    status_code=204,
    responses=route_responses({204: {"description": "Deleted"}}, 404),
)
def delete_endpoint(endpoint_id: EndpointIdPath) -> Response[str]:
    service.delete_endpoint(endpoint_id, endpoints=compose.webhook_endpoints().endpoints)
    return Response(status_code=204, body="")


@router.post(
    "/webhook-endpoints/<endpoint_id>/rotate-secret",
    summary="Rotate the signing secret",
    description=(
        "A new secret, returned once. For 24 hours deliveries carry two signatures (new and old, space-separated "
        "in `webhook-signature`), so a receiver can switch without missing a delivery."
    ),
    tags=TAGS,
    operation_id="rotateWebhookEndpointSecret",
    responses=route_responses(
        {200: model_response("The endpoint with its new secret", models.WebhookEndpointWithSecret)}, 404, 409
    ),
)
def rotate_secret(endpoint_id: EndpointIdPath) -> Response[str]:
    return json_response(service.rotate_secret(endpoint_id, endpoints=compose.webhook_endpoints().endpoints))


@router.post(
    "/webhook-endpoints/<endpoint_id>/test",
    summary="Send a test event",
    description="Queues a `webhook.test` event for this endpoint, delivered, signed and retried like any event.",
    tags=TAGS,
    operation_id="testWebhookEndpoint",
    status_code=202,
    responses=route_responses(
        {202: model_response("Queued; follow it in the delivery log", models.PingResponse)}, 404, 409
    ),
)
def send_test_event(endpoint_id: EndpointIdPath) -> Response[str]:
    deps = compose.webhook_endpoints()
    return json_response(service.send_ping(endpoint_id, endpoints=deps.endpoints, queues=deps.queues), 202)


@router.get(
    "/webhook-endpoints/<endpoint_id>/deliveries",
    summary="The delivery log",
    description="Deliveries to this endpoint, newest first, each with its attempts (time, status, latency, error).",
    tags=TAGS,
    operation_id="listWebhookDeliveries",
    responses=route_responses({200: model_response("One page", models.WebhookDeliveryList)}, 404),
)
def list_deliveries(
    endpoint_id: EndpointIdPath,
    status: Annotated[models.DeliveryStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=models.MAX_DELIVERY_LIST_LIMIT)] = 25,
    cursor: CursorQuery = None,
) -> Response[str]:
    deps = compose.webhook_endpoints()
    page = service.list_deliveries(
        endpoint_id, status, limit, cursor, endpoints=deps.endpoints, deliveries=deps.deliveries
    )
    return json_response(page)


@router.post(
    "/webhook-endpoints/<endpoint_id>/deliveries/<delivery_id>/retry",
    summary="Retry a delivery",
    description="A finished delivery (failed, succeeded or canceled) gets a new cycle of attempts, the first now.",
    tags=TAGS,
    operation_id="retryWebhookDelivery",
    status_code=202,
    responses=route_responses({202: model_response("Queued", models.WebhookDelivery)}, 404, 409),
)
def retry_delivery(endpoint_id: EndpointIdPath, delivery_id: DeliveryIdPath) -> Response[str]:
    deps = compose.webhook_endpoints()
    retried = service.retry_delivery(
        endpoint_id, delivery_id, endpoints=deps.endpoints, deliveries=deps.deliveries, queues=deps.queues
    )
    return json_response(retried, 202)
