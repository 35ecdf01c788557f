"""The HTTP JSON API on twisted.web: one module a resource, and the root."""
