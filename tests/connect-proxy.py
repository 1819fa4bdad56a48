#!/usr/bin/env python3
"""connect-proxy.py PORTFILE LOG: an HTTP CONNECT proxy on 127.0.0.1 for
the tests. Listens on a free port (written to PORTFILE once listening),
logs each request line to LOG, tunnels CONNECT to 127.0.0.0/8 only, and
closes a tunnel idle for 60 s. Runs until killed."""
import select
import socket
import sys
import threading

def relay(a, b):
    socks = [a, b]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], 60)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    finally:
        a.close()
        b.close()

def handle(conn, log, lock):
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(4096)
        if not data or len(head) > 65536:
            conn.close()
            return
        head += data
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    with lock:
        log.write(line + "\n")
        log.flush()
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT":
        conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        conn.close()
        return
    host, _, port = parts[1].rpartition(":")
    if not host.startswith("127."):
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        conn.close()
        return
    try:
        upstream = socket.create_connection((host, int(port)), timeout=10)
    except OSError:
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
        conn.close()
        return
    upstream.settimeout(None)
    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    relay(conn, upstream)

def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    log = open(sys.argv[2], "a")
    lock = threading.Lock()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn, log, lock),
                         daemon=True).start()

main()
