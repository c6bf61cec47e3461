"""The quickstart's sample app: answers `hello from <version>` over HTTP."""
import http.server
import os
import pathlib

VERSION = pathlib.Path(__file__).with_name("VERSION").read_text().strip()


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from {VERSION}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    http.server.HTTPServer(("127.0.0.1", port), Hello).serve_forever()
