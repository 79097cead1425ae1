"""A typed client for the TrackingMore API v2 (https://api.trackingmore.com/v2).

Knows nothing about AWS or shiptrack. See ``TrackingMoreClient``.
"""
