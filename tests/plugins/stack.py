"""pytest fixtures: stack (registered in pyproject addopts)."""
