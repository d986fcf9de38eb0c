#!/usr/bin/env python3
"""The load of scripts/soak.sh (stdlib only): well-behaved token clients, introspection and
revocation, a client whose secret is rotated and whose tokens are revoked, never-reading
pipeliners, head dribblers, a flood of unknown client ids, a PostgreSQL restart half-way,
and the server's RSS every second. Exits non-zero if a check fails."""

import argparse
import base64
import collections
import json
import os
import random
import re
import socket
import subprocess
import threading
import time


def request(host_port, raw, sock=None, timeout=5):
    """Send raw bytes, read one response; returns (status, body, sock)."""
    if sock is None:
        sock = socket.create_connection(host_port, timeout=timeout)
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: *(\d+)", head, re.I).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return int(head.split(b" ")[1]), body[:length], sock


def form_post(path, form, basic):
    auth = base64.b64encode(basic.encode()).decode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n{form}"
    ).encode()


class Soak:
    def __init__(self, args):
        self.args = args
        self.public = ("127.0.0.1", args.port)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self.rotating_secret = os.environ["EDGEAUTH_SOAK_ROTATING"]
        self.rss = []

    def count(self, kind, status):
        with self.lock:
            self.statuses[(kind, status)] += 1

    def error(self, kind):
        with self.lock:
            self.errors[kind] += 1

    def token_worker(self, client, secret_of):
        sock = None
        while not self.stop.is_set():
            try:
                raw = form_post("/oauth/token", "grant_type=client_credentials", f"{client}:{secret_of()}")
                status, _, sock = request(self.public, raw, sock)
                self.count(client, status)
                if status == 503:
                    time.sleep(0.05)
            except (OSError, ConnectionError, AttributeError):
                self.error(client)
                sock = None
                time.sleep(0.05)

    def introspector(self):
        secret = os.environ["EDGEAUTH_SOAK_SECRET"]
        while not self.stop.is_set():
            try:
                raw = form_post("/oauth/token", "grant_type=client_credentials", f"bench:{secret}")
                status, body, _ = request(self.public, raw)
                if status != 200:
                    self.count("introspect", status)
                    time.sleep(0.1)
                    continue
                token = json.loads(body)["access_token"]
                for path in ("/oauth/introspect", "/oauth/revoke", "/oauth/introspect"):
                    status, _, _ = request(self.public, form_post(path, f"token={token}", f"bench:{secret}"))
                    self.count(path, status)
            except (OSError, ConnectionError, AttributeError, ValueError):
                self.error("introspect")
                time.sleep(0.1)

    def rotator(self):
        while not self.stop.wait(3):
            out = subprocess.run([self.args.bin, "client", "rotate-secret", "rotating"], capture_output=True)
            if out.returncode == 0:
                self.rotating_secret = json.loads(out.stdout)["client_secret"]
            subprocess.run([self.args.bin, "client", "revoke-tokens", "rotating"], capture_output=True)

    def never_readers(self):
        pipelined = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 200
        while not self.stop.wait(2):
            for _ in range(20):
                try:
                    s = socket.create_connection(self.public, timeout=1)
                    s.settimeout(0.2)
                    for _ in range(20):
                        s.sendall(pipelined)
                except OSError:
                    pass  # the kernel's buffers are full: that is the point

    def dribblers(self):
        while not self.stop.is_set():
            socks = []
            for _ in range(10):
                try:
                    socks.append(socket.create_connection(self.public, timeout=1))
                except OSError:
                    self.error("dribbler-connect")
            for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\n":
                if self.stop.wait(0.5):
                    break
                for s in socks:
                    try:
                        s.sendall(bytes([byte]))
                    except OSError:
                        pass
            for s in socks:
                s.close()

    def unknown_flood(self):
        sock = None
        while not self.stop.is_set():
            try:
                raw = form_post("/oauth/token", "grant_type=client_credentials", f"ghost-{random.random()}:x")
                status, _, sock = request(self.public, raw, sock)
                self.count("unknown", status)
            except (OSError, ConnectionError, AttributeError):
                sock = None

    def sample_rss(self):
        started = time.time()
        while not self.stop.wait(1):
            with open(f"/proc/{self.args.pid}/status") as f:
                kib = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            self.rss.append((round(time.time() - started), kib / 1024))

    def restart_postgres(self):
        if self.stop.wait(self.args.seconds / 2):
            return
        url = os.environ["EDGEAUTH_DATABASE_URL"]
        port = re.search(r"port=(\d+)", url).group(1)
        print("soak: stopping PostgreSQL", flush=True)
        subprocess.run(["scripts/pg.sh", "stop", self.args.pg_dir], check=True, capture_output=True)
        self.stop.wait(3)
        subprocess.run(["scripts/pg.sh", "start", self.args.pg_dir, port], check=True, capture_output=True)
        print("soak: PostgreSQL started again", flush=True)

    def run(self):
        secret = os.environ["EDGEAUTH_SOAK_SECRET"]
        threads = [threading.Thread(target=self.token_worker, args=("bench", lambda: secret)) for _ in range(8)]
        threads.append(threading.Thread(target=self.token_worker, args=("rotating", lambda: self.rotating_secret)))
        for target in (self.introspector, self.rotator, self.never_readers, self.dribblers,
                       self.unknown_flood, self.sample_rss, self.restart_postgres):
            threads.append(threading.Thread(target=target))
        for t in threads:
            t.daemon = True
            t.start()
        time.sleep(self.args.seconds)
        self.stop.set()
        for t in threads:
            t.join(timeout=10)
        # Give buffered tokens a flush interval before the caller reads the counters.
        time.sleep(1)

    def report(self):
        print("soak: statuses", dict(sorted((f"{k} {s}", n) for (k, s), n in self.statuses.items())))
        print("soak: connection errors", dict(self.errors))
        failures = []
        for (kind, status), n in self.statuses.items():
            if status >= 500 and status != 503:
                failures.append(f"{n} x {status} on {kind}")
            if kind == "bench" and status not in (200, 503):
                failures.append(f"{n} x {status} for the well-behaved client")
        ok = self.statuses[("bench", 200)]
        if ok == 0:
            failures.append("no token issued")
        self.write_rss()
        third = max(1, len(self.rss) // 3)
        middle = max((m for _, m in self.rss[third:2 * third]), default=0)
        last = max((m for _, m in self.rss[2 * third:]), default=0)
        print(f"soak: RSS max {middle:.1f} MiB in the middle third, {last:.1f} MiB in the last")
        if last > middle * 1.5 + 16:
            failures.append(f"RSS still growing: {middle:.1f} -> {last:.1f} MiB")
        for f in failures:
            print("soak: FAILED:", f)
        return not failures

    def write_rss(self):
        results = self.args.results
        with open(os.path.join(results, "soak-rss.csv"), "w") as f:
            f.write("seconds,rss_mib\n")
            for t, m in self.rss:
                f.write(f"{t},{m:.1f}\n")
        if not self.rss:
            return
        width, height, pad = 640, 320, 40
        t_max = max(t for t, _ in self.rss) or 1
        m_max = max(m for _, m in self.rss) * 1.2 or 1
        points = " ".join(
            f"{pad + (width - 2 * pad) * t / t_max:.1f},{height - pad - (height - 2 * pad) * m / m_max:.1f}"
            for t, m in self.rss
        )
        svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20">edgeauth RSS during scripts/soak.sh (PostgreSQL restarted half-way)</text>
<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>
<text x="{width - pad}" y="{height - 10}" text-anchor="end">{t_max} s</text>
<text x="5" y="{pad}">{m_max:.0f} MiB</text>
<polyline fill="none" stroke="steelblue" stroke-width="2" points="{points}"/>
</svg>
"""
        with open(os.path.join(results, "soak-rss.svg"), "w") as f:
            f.write(svg)


def main():
    p = argparse.ArgumentParser()
    for name in ("--port", "--admin-port", "--pid", "--seconds"):
        p.add_argument(name, type=int, required=True)
    for name in ("--bin", "--pg-dir", "--results"):
        p.add_argument(name, required=True)
    soak = Soak(p.parse_args())
    soak.run()
    raise SystemExit(0 if soak.report() else 1)


if __name__ == "__main__":
    main()
