"""The v2 response envelope and its exact ``meta.type`` strings (reference §1, §4.1)."""

from __future__ import annotations

from typing import Any

# reference §4.1 — meta.code → meta.type, exactly as the v2 status-code page prints them.
META_TYPES: dict[int, str] = {
    200: "Success",
    201: "Created",
    202: "Bad Request",
    401: "Unauthorized",
    4001: "Unauthorized",
    4002: "Unauthorized",
    4012: "Bad Request",
    4013: "Bad Request",
    4014: "Bad Request",
    4015: "Bad Request",
    4016: "Bad Request",
    4017: "Bad Request",
    4018: "Bad Request",
    4019: "Bad Request",
    4020: "Bad Request",
    4021: "Bad Request",
    4031: "No Content",
    4032: "No Content",
    4033: "No Content",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Server error",
    503: "Service Unavailable",
}

# Messages paraphrase the status-code page (reference §4.1); 201 and 4016 are the live-captured texts (§3.2).
MESSAGES: dict[int, str] = {
    200: "Success",
    201: "The request was successful and a resource was created.",
    4001: "Invalid API key: the Trackingmore-Api-Key header is missing or wrong.",
    4012: "The request could not be understood: required parameters are missing or invalid.",
    4013: "tracking_number is required.",
    4014: "The value of tracking_number is invalid.",
    4015: "The value of carrier_code is invalid.",
    4016: "Tracking already exists.",
    4017: "Tracking does not exist.",
    4020: "Too many items in one request.",
    4021: "Your quota is used up (or the trial has expired).",
    4031: "This tracking number has not been added yet; create it with POST /trackings/post, then get it.",
    4032: "The carrier cannot be detected for this tracking number.",
    4033: "Invalid status value: only 4 (delivered), 7 (exception) or 8 (revert) are accepted.",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests: the rate limit was exceeded; pause for about 2 minutes.",
    500: "Server error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An outcome other than success; rendered as HTTP 200 with the code in ``meta.code`` (reference §1)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, META_TYPES.get(code, "Error"))
        super().__init__(f"{code} {self.message}")


def meta(code: int, message: str | None = None) -> dict[str, Any]:
    return {"code": code, "type": META_TYPES.get(code, "Error"), "message": message or MESSAGES.get(code, "")}


def envelope(code: int, data: Any, message: str | None = None) -> dict[str, Any]:
    return {"meta": meta(code, message), "data": data}


def error_envelope(error: ApiError) -> dict[str, Any]:
    # Error bodies carry an empty list as data (inferred: the v2 pages show only meta for errors).
    return {"meta": meta(error.code, error.message), "data": []}
