"""A receiver for consentapp's outgoing webhooks, to run as it is or to start from.

It checks every request with the `standardwebhooks` library (the secret is the
`whsec_...` that `flask --app wsgi add-webhook` printed, or the staff page showed),
prints each event as one line of JSON on standard output, and answers 204. A request
whose signature does not verify (wrong secret, changed body, missing headers, a
timestamp more than five minutes off) is refused with 400 and not printed. A
`webhook-id` seen before is a repeat ("send again", or a retry whose answer was lost):
it is answered 204 again and not printed twice.

    pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 8000

Only the Python standard library and `standardwebhooks`. A real receiver would do its
work (or queue it) where `handle` prints, keep the seen ids in its database, and sit
behind HTTPS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

LARGEST_BODY = 1_000_000


def handle(event_id: str, payload: dict[str, Any]) -> None:
    """What to do with a verified event: here, print it as one line of JSON."""
    line = {
        "id": event_id,
        "type": payload.get("type"),
        "timestamp": payload.get("timestamp"),
        "data": payload.get("data"),
    }
    print(json.dumps(line, sort_keys=True), flush=True)


def make_handler(secret: str) -> type[BaseHTTPRequestHandler]:
    """A request handler that verifies with `secret`."""
    webhook = Webhook(secret)
    seen: set[str] = set()
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw_length = self.headers.get("Content-Length") or "0"
            length = int(raw_length) if raw_length.isdigit() else -1
            if not 0 <= length <= LARGEST_BODY:
                self.answer(413, "missing or too large Content-Length")
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                payload = webhook.verify(body, headers)
            except (WebhookVerificationError, ValueError) as problem:
                # ValueError: a malformed signature header or a body that is not UTF-8.
                print(f"refused: {problem}", file=sys.stderr, flush=True)
                self.answer(400, "bad signature")
                return
            event_id = headers["webhook-id"]
            with lock:
                repeat = event_id in seen
                seen.add(event_id)
            if not repeat:
                handle(event_id, payload)
            self.answer(204)

        def answer(self, status: int, text: str = "") -> None:
            reply = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if reply:
                self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # standard output is for the events

    return Receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free one)")
    args = parser.parse_args(argv)
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        print("Set WEBHOOK_SECRET to the endpoint's signing secret (whsec_...).", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer((args.host, args.port), make_handler(secret))
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
