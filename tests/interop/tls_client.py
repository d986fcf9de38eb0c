"""Python's ssl and requests against edgeauth's native TLS.

Checks, each printed as one line: a token over HTTPS with a secret (requests, the CA as the
only trust root), verified with the JWKS and naming an https issuer; a token for a mutual-TLS
client (requests with a client certificate) whose cnf.x5t#S256 is the certificate's SHA-256,
also in introspection; and session resumption with the ssl module.

usage: tls_client.py BASE_URL CA_PEM SECRET_CLIENT SECRET MTLS_CLIENT CERT_PEM KEY_PEM
Exits non-zero on the first failure.
"""
import base64
import hashlib
import socket
import ssl
import sys
from urllib.parse import urlparse

import jwt
import requests

base, ca, secret_client, secret, mtls_client, cert, key = sys.argv[1:8]

meta = requests.get(base + "/.well-known/oauth-authorization-server", verify=ca, timeout=10).json()
assert meta["issuer"] == base and base.startswith("https://"), meta
assert meta["tls_client_certificate_bound_access_tokens"] is True, meta
jwks = jwt.PyJWKClient(meta["jwks_uri"], ssl_context=ssl.create_default_context(cafile=ca))


def verify(access_token, client_id):
    key = jwks.get_signing_key_from_jwt(access_token)
    alg = jwt.get_unverified_header(access_token)["alg"]
    claims = jwt.decode(access_token, key.key, algorithms=[alg], audience=base, issuer=base)
    assert claims["client_id"] == client_id, claims
    return claims


r = requests.post(meta["token_endpoint"], auth=(secret_client, secret),
                  data={"grant_type": "client_credentials"}, verify=ca, timeout=10)
assert r.status_code == 200, (r.status_code, r.text)
claims = verify(r.json()["access_token"], secret_client)
assert "cnf" not in claims, claims
print("ok https secret: token verified with the JWKS, issuer", claims["iss"])

r = requests.post(meta["token_endpoint"], cert=(cert, key), verify=ca, timeout=10,
                  data={"grant_type": "client_credentials", "client_id": mtls_client})
assert r.status_code == 200, (r.status_code, r.text)
token = r.json()["access_token"]
claims = verify(token, mtls_client)
der = ssl.PEM_cert_to_DER_cert(open(cert).read())
thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
assert claims["cnf"] == {"x5t#S256": thumbprint}, (claims, thumbprint)
info = requests.post(meta["introspection_endpoint"], cert=(cert, key), verify=ca, timeout=10,
                     data={"token": token, "client_id": mtls_client}).json()
assert info["active"] is True and info["cnf"] == {"x5t#S256": thumbprint}, info
print("ok mtls: token bound to the client certificate, cnf in introspection too")

r = requests.post(meta["token_endpoint"], verify=ca, timeout=10,
                  data={"grant_type": "client_credentials", "client_id": mtls_client})
assert r.status_code == 401 and r.json()["error"] == "invalid_client", (r.status_code, r.text)
print("ok mtls without a certificate: invalid_client")

url = urlparse(base)
context = ssl.create_default_context(cafile=ca)
session, reused = None, []
for _ in range(6):
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=url.hostname, session=session) as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert tls.recv(4096).startswith(b"HTTP/1.1 200"), "healthz over TLS"
            reused.append(tls.session_reused)
            session = tls.session
assert reused[0] is False and all(reused[1:]), reused
print("ok resumption: every connection after the first resumed its session")
print("tls interop: all checks passed")
