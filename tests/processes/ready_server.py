"""An HTTP service whose readiness a test controls: ``GET /ready`` answers 503 for its
first ``--warm-s`` seconds, then 200; ``GET /hang`` accepts and never answers.

Run as ``python ready_server.py PORT --warm-s S``; it prints ``listening`` once bound.
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--warm-s", type=float, default=0.0)
    args = parser.parse_args()
    ready_at = time.monotonic() + args.warm_s
    never = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/hang":
                never.wait(120)  # bounded: the test gives up long before
                return
            code = 200 if time.monotonic() >= ready_at else 503
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
