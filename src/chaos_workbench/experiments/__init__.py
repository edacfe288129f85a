"""Suite files: the schema, loading, and validation errors with file, line and field."""

from __future__ import annotations
