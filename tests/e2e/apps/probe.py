"""A tiny HTTP server for router tests, standard library only (runs in any python3 image).

GET /verify   forward-auth check: 200 with Remote-User for ``Bearer let-me-in``, else 401
GET /whoami   the Remote-User header the request arrived with ("-" without one)
POST /echo    reads the body (announced or chunked), answers how many bytes it got
GET /ws       a WebSocket that echoes text messages
GET /...      "probe"
"""

import base64
import hashlib
import http.server
import socketserver

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers the paths above."""

    protocol_version = "HTTP/1.1"

    def answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/verify"):
            if self.headers.get("Authorization") == "Bearer let-me-in":
                self.answer(200, "ok", {"Remote-User": "alice"})
            else:
                self.answer(401, "who are you?\n")
        elif self.path.startswith("/whoami"):
            self.answer(200, self.headers.get("Remote-User") or "-")
        elif self.path.startswith("/ws") and self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        else:
            self.answer(200, "probe")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            got = 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                got += len(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after the chunk
            self.rfile.readline()  # the CRLF after the last (empty) chunk
        else:
            got = len(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.answer(200, f"got {got} bytes")

    def websocket(self) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(
            hashlib.sha1((key + WS_GUID).encode(), usedforsecurity=False).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 8:  # close
                self.wfile.write(b"\x88\x00")
                return
            reply = b"echo: " + payload
            self.wfile.write(bytes([0x81, len(reply)]) + reply)  # text, short messages only
            self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One thread per connection, so a WebSocket does not block other requests."""

    daemon_threads = True


if __name__ == "__main__":
    Server(("", 8080), Handler).serve_forever()
