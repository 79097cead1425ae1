"""API routes as Powertools Routers, one module (exporting `router`) per feature."""
