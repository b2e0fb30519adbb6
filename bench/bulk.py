#!/usr/bin/env python3
"""A native HTTP server with the reference image's two bulk routes,
GET /bytes/N and POST /sink, for bench/proxy.py's loopback backend.

    bulk.py serve ADDR PORT        serve until killed

It sends with sendfile(2) from a sparse file (zeros, not the image's
pattern: only speed is measured) and receives into one reused buffer, so
that Python is not what limits a transfer.  Not run by CI."""
import os
import socket
import sys
import tempfile
import threading

CHUNK = 1 << 20


def read_head(s):
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(4096)
        if not b:
            return None, b""
        head += b
    i = head.index(b"\r\n\r\n") + 4
    return head[:i].decode("latin-1"), head[i:]


def content_length(head):
    for line in head.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            return int(v)
    return 0


def serve_one(s, zeros):
    buf = bytearray(CHUNK)
    try:
        while True:
            head, rest = read_head(s)
            if head is None:
                return
            method, path = head.split(" ", 2)[:2]
            if method == "GET" and path.startswith("/bytes/"):
                n = int(path[7:])
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                          b"Content-Type: application/octet-stream\r\n"
                          b"\r\n" % n)
                sent = 0
                while sent < n:
                    k = os.sendfile(s.fileno(), zeros, sent % (1 << 30),
                                    min(n - sent, CHUNK * 8))
                    if k <= 0:
                        return
                    sent += k
            elif method == "POST" and path == "/sink":
                left = content_length(head) - len(rest)
                while left > 0:
                    k = s.recv_into(buf, min(left, CHUNK))
                    if k == 0:
                        return
                    left -= k
                body = b"ok\n"
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
            else:
                s.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0"
                          b"\r\n\r\n")
    finally:
        s.close()


def serve(addr, port):
    f = tempfile.TemporaryFile()
    f.truncate(1 << 30)             # sparse: sendfile reads zero pages
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(128)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=serve_one, args=(s, f.fileno()),
                         daemon=True).start()


def main():
    cmd = sys.argv[1]
    if len(sys.argv) != 4 or sys.argv[1] != "serve":
        raise SystemExit(__doc__)
    serve(sys.argv[2], int(sys.argv[3]))


if __name__ == "__main__":
    main()
