"""``cwb example``: a gallery of real systems nobody here wrote (nginx, HAProxy, PgBouncer).

Each example is a directory of package data: ``example.yaml`` (what it needs: the server
binaries and their Debian packages, the free ports to pick, its variants), an ordinary
commented ``suite.yaml``, and the configuration templates its processes render through the
suite's general ``processes[].files`` mechanism. ``catalog`` reads them; ``run`` starts one.
"""
