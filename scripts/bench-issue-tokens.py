#!/usr/bin/env python3
"""Issue many access tokens fast, one a line to a file, for the benchmarks (standard library).

    bench-issue-tokens.py PORT COUNT OUT

POST /oauth/token on 127.0.0.1:PORT with HTTP Basic (EDGEAUTH_BENCH_AUTH, base64 of
"id:secret"), pipelined 256 requests a write over one connection, until COUNT tokens are in
OUT. scripts/bench.sh uses it for introspection of always-new tokens
(scripts/introspect-many.lua): tens of thousands of tokens in a second or two, where one
curl per token would take minutes.
"""
import json
import os
import socket
import sys

BATCH = 256


def read_response(f):
    """One response's status and body (Content-Length framing, as the server answers)."""
    status = int(f.readline().split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, f.read(length)


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    port, count, out = int(argv[1]), int(argv[2]), argv[3]
    body = b"grant_type=client_credentials"
    request = (
        b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Basic " + os.environ["EDGEAUTH_BENCH_AUTH"].encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    issued = 0
    with socket.create_connection(("127.0.0.1", port)) as s, open(out, "w") as tokens:
        f = s.makefile("rb")
        while issued < count:
            n = min(BATCH, count - issued)
            s.sendall(request * n)
            for _ in range(n):
                status, answer = read_response(f)
                if status != 200:
                    sys.exit(f"bench-issue-tokens: token request answered {status}: {answer[:200]!r}")
                tokens.write(json.loads(answer)["access_token"] + "\n")
            issued += n
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
