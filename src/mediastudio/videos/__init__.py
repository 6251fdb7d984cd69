"""Video tools over HTTP: ``POST /api/v1/videos/{tool}`` creates a generation of that tool."""
