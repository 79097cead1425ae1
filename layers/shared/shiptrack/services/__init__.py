"""Services: the behaviour behind each route and event path, one module per feature."""
