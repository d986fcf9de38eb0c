#!/usr/bin/env python3
"""Latency of admin API calls (issue #14), for scripts/bench-admin.sh: N rounds of
GET /admin/clients/{id}, GET /admin/clients?limit=100 and PATCH /admin/clients/{id}, each
on one keep-alive connection; prints one JSON object {call: [milliseconds, ...]}.

usage: bench-admin.py HOST:PORT ADMIN_TOKEN CLIENT_ID ROUNDS
"""
import http.client
import json
import sys
import time

host, token, client_id, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection(host, timeout=10)
auth = {"Authorization": f"Bearer {token}"}
calls = {
    "GET /admin/clients/{id}": ("GET", f"/admin/clients/{client_id}", None),
    "GET /admin/clients?limit=100": ("GET", "/admin/clients?limit=100", None),
    "PATCH /admin/clients/{id}": ("PATCH", f"/admin/clients/{client_id}", "scopes"),
}
times = {name: [] for name in calls}
for i in range(rounds):
    for name, (method, path, patch) in calls.items():
        headers = dict(auth)
        body = None
        if patch:
            body = json.dumps({"scopes": f"read s{i % 2}"})
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        times[name].append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            sys.exit(f"{method} {path}: {response.status}")
print(json.dumps(times))
