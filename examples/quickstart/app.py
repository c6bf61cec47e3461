"""The quickstart's sample app: an HTTP server for the host's python3.

`GET /healthz` answers `ok` (the health check); every other path answers
`hello from VERSION in ENV`, with a fingerprint of the secret `DEMO_TOKEN` that Sluice
decrypted for this environment at rollout: proof that it arrived, without showing it.
"""
import hashlib
import http.server
import os
import pathlib

VERSION = pathlib.Path(__file__).with_name("VERSION").read_text().strip()


def greeting(env, token):
    seen = "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12] if token else "not set"
    return f"hello from {VERSION} in {env} (DEMO_TOKEN {seen})\n"


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            body = b"ok\n"
        else:
            body = greeting(os.environ.get("SLUICE_ENV", "?"), os.environ.get("DEMO_TOKEN", "")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        print(format % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    http.server.HTTPServer(("127.0.0.1", port), Hello).serve_forever()
