"""API routes as Powertools Routers, one module (exporting `router`) per feature; a private module (`_lookups`) holds
what several of them declare alike."""
