"""Templates over HTTP: the catalog of templates (public) and rendering one as a job."""
