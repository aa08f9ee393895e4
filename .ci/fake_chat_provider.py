#!/usr/bin/env python3
"""A stand-in for an OpenAI-compatible chat-completions server, for .ci/http-files.sh.

    fake_chat_provider.py <port> <requests.jsonl>

Listens on 127.0.0.1:<port>; answers every POST .../chat/completions with a fixed reply and
appends each request body to <requests.jsonl>, so the caller can see that the server asked.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
LOG = sys.argv[2]
REPLY = {"choices": [{"message": {"role": "assistant", "content": "hi from the fake provider"}}]}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        with open(LOG, "a", encoding="utf-8") as log:
            log.write(body.decode("utf-8", "replace").replace("\n", " ") + "\n")
        answer = json.dumps(REPLY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
