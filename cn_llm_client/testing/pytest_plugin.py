"""pytest fixtures for the offline gateway."""
