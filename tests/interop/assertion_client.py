"""Clients without secrets, built with standard libraries against a running edgeauth.

Authlib's PrivateKeyJWT authenticates with an assertion signed by the client's own key
(RFC 7523); PyJWT builds DPoP proofs (RFC 9449) by hand; tokens are verified with the JWKS.

usage: assertion_client.py keygen DIR          writes DIR/private.pem and DIR/jwks.json
       assertion_client.py run BASE_URL CLIENT_ID DIR
Prints one line per check; exits non-zero on the first failure.
"""
import base64
import hashlib
import json
import sys
import time
import uuid

import jwt
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def public_jwk(private_key):
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    return {k: jwk[k] for k in ("kty", "crv", "x", "y")}


def thumbprint(jwk):
    canonical = json.dumps({k: jwk[k] for k in sorted(jwk)}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def keygen(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with open(f"{directory}/private.pem", "wb") as f:
        f.write(pem)
    with open(f"{directory}/jwks.json", "w") as f:
        json.dump({"keys": [dict(public_jwk(key), alg="ES256", use="sig")]}, f)


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib signs assertions valid for an hour; edgeauth accepts assertion_max_age (5m)."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id,
                                    token_endpoint=token_endpoint, claims=self.claims,
                                    header=self.headers, alg=self.alg, expires_in=120)


def run(base, client_id, directory):
    pem = open(f"{directory}/private.pem").read()
    meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
    token_endpoint = meta["token_endpoint"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"], meta
    assert "ES256" in meta["token_endpoint_auth_signing_alg_values_supported"], meta
    assert "ES256" in meta["dpop_signing_alg_values_supported"], meta
    jwks = jwt.PyJWKClient(meta["jwks_uri"])

    def verify(access_token):
        key = jwks.get_signing_key_from_jwt(access_token)
        alg = jwt.get_unverified_header(access_token)["alg"]
        claims = jwt.decode(access_token, key.key, algorithms=[alg], audience=base,
                            issuer=meta["issuer"])
        assert claims["sub"] == client_id, claims
        return claims

    session = OAuth2Session(client_id, pem, token_endpoint_auth_method="private_key_jwt")
    session.register_client_auth_method(ShortLivedPrivateKeyJWT(token_endpoint, alg="ES256"))
    for _ in range(2):  # a fresh jti each time
        token = session.fetch_token(token_endpoint, grant_type="client_credentials")
        assert token["token_type"] == "Bearer", token
        verify(token["access_token"])
    print("ok private_key_jwt")

    # Authlib's default lifetime (an hour) is beyond assertion_max_age.
    default = OAuth2Session(client_id, pem, token_endpoint_auth_method="private_key_jwt")
    default.register_client_auth_method(PrivateKeyJWT(token_endpoint, alg="ES256"))
    try:
        default.fetch_token(token_endpoint, grant_type="client_credentials")
        raise AssertionError("an hour-long assertion was accepted")
    except OAuthError as e:
        assert e.error == "invalid_client", e
    print("ok hour-long assertion refused")

    # The same assertion twice: the second is a replay.
    assertion = private_key_jwt_sign(pem, client_id, token_endpoint, alg="ES256", expires_in=60)
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    first = requests.post(token_endpoint, data=form, timeout=10)
    again = requests.post(token_endpoint, data=form, timeout=10)
    assert first.status_code == 200, first.text
    assert again.status_code == 401 and again.json()["error"] == "invalid_client", again.text
    print("ok replay refused")

    # DPoP by hand with PyJWT: a key of the client's own, a proof per request.
    dpop_key = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(dpop_key)

    def proof():
        claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": token_endpoint,
                  "iat": int(time.time())}
        return jwt.encode(claims, dpop_key, algorithm="ES256",
                          headers={"typ": "dpop+jwt", "jwk": jwk})

    form["client_assertion"] = private_key_jwt_sign(pem, client_id, token_endpoint,
                                                    alg="ES256", expires_in=60)
    r = requests.post(token_endpoint, data=form, headers={"DPoP": proof()}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP", r.text
    claims = verify(r.json()["access_token"])
    assert claims["cnf"] == {"jkt": thumbprint(jwk)}, claims
    print("ok dpop")

    reused = proof()
    for expected in (200, 400):
        form["client_assertion"] = private_key_jwt_sign(pem, client_id, token_endpoint,
                                                        alg="ES256", expires_in=60)
        r = requests.post(token_endpoint, data=form, headers={"DPoP": reused}, timeout=10)
        assert r.status_code == expected, r.text
    assert r.json()["error"] == "invalid_dpop_proof", r.text
    print("ok dpop replay refused")
    print("assertion interop: all checks passed")


if __name__ == "__main__":
    if sys.argv[1] == "keygen":
        keygen(sys.argv[2])
    else:
        run(*sys.argv[2:5])
