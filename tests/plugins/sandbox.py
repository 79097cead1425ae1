"""pytest fixtures: sandbox (registered in pyproject addopts)."""
