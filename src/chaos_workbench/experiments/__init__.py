"""Suite files: the schema, loading, and validation errors with file, line and field.

The fault package is imported first, on purpose: it registers every built-in fault kind
(which the schema dispatches to by ``type``), and some fault modules import packages that
themselves import the schema, so this order is the one that never meets a half-built
module.
"""

from __future__ import annotations

import chaos_workbench.faults  # noqa: F401  (registers the fault kinds; see above)
