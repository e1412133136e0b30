"""Market data: loaders and synthetic generators."""
