"""pytest fixtures: aws (registered in pyproject addopts)."""
