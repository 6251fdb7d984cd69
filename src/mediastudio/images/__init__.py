"""Image tools over HTTP: ``POST /api/v1/images/{tool}`` creates a generation of that tool."""
