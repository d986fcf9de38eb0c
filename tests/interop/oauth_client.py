"""A standard OAuth 2.0 client library against a running edgeauth.

Authlib finds the token endpoint through the RFC 8414 metadata document, fetches tokens
with client_secret_basic and client_secret_post, and PyJWT verifies them with the JWKS, as a
resource server would. Error responses must parse as RFC 6749 errors.

usage: oauth_client.py BASE_URL CLIENT_ID CLIENT_SECRET
Prints one line per check; exits non-zero on the first failure.
"""
import sys

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError

base, client_id, secret = sys.argv[1:4]

meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
assert meta["issuer"] == base, meta
token_endpoint = meta["token_endpoint"]
assert "client_credentials" in meta["grant_types_supported"], meta
jwks = jwt.PyJWKClient(meta["jwks_uri"])


def verify(access_token, scope):
    key = jwks.get_signing_key_from_jwt(access_token)
    header = jwt.get_unverified_header(access_token)
    assert header["typ"] == "at+jwt", header
    claims = jwt.decode(access_token, key.key, algorithms=[header["alg"]],
                        audience=base, issuer=meta["issuer"])
    assert claims["sub"] == client_id and claims["client_id"] == client_id, claims
    assert claims["scope"] == scope, claims
    assert claims["exp"] - claims["iat"] > 0 and claims["jti"], claims
    return claims


# The methods of a client with a secret; private_key_jwt has its own script.
for method in ("client_secret_basic", "client_secret_post"):
    assert method in meta["token_endpoint_auth_methods_supported"], meta
    session = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, scope="read")
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0, token
    claims = verify(token["access_token"], "read")
    print(f"ok {method}: token verified with the JWKS (alg {jwt.get_unverified_header(token['access_token'])['alg']}, jti {claims['jti']})")


def expect_error(code, **kwargs):
    session = OAuth2Session(kwargs.pop("client_id", client_id), kwargs.pop("secret", secret),
                            token_endpoint_auth_method=kwargs.pop("method", "client_secret_basic"),
                            scope=kwargs.pop("scope", None))
    try:
        session.fetch_token(token_endpoint, grant_type=kwargs.pop("grant_type", "client_credentials"))
    except OAuthError as e:
        assert e.error == code, (code, e.error, e.description)
        print(f"ok error {code}: {e.description}")
        return
    raise AssertionError(f"expected {code}")


# Introspection (RFC 7662) and revocation (RFC 7009) through the library, at the endpoints
# the metadata names.
session = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic",
                        revocation_endpoint_auth_method="client_secret_basic", scope="read")
token = session.fetch_token(token_endpoint, grant_type="client_credentials")
info = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert info["active"] is True and info["client_id"] == client_id and info["scope"] == "read", info
assert info["jti"] == verify(token["access_token"], "read")["jti"], info
print("ok introspect: active with the token's claims")
r = session.revoke_token(meta["revocation_endpoint"], token=token["access_token"],
                         token_type_hint="access_token")
assert r.status_code == 200, (r.status_code, r.text)
info = session.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json()
assert info == {"active": False}, info
print("ok revoke: the token is inactive afterwards")

expect_error("invalid_client", secret="not-the-secret")
expect_error("invalid_client", secret="not-the-secret", method="client_secret_post")
expect_error("invalid_scope", scope="admin")
expect_error("unsupported_grant_type", grant_type="urn:ietf:params:oauth:grant-type:device_code")
print("interop: all checks passed")
