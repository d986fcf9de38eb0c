#!/usr/bin/env python3
"""Check the load material of examples/bench_credentials.rs with PyJWT and cryptography,
libraries that share no code with it: run by hand after changing the generator.

  PY=target/interop-venv/bin/python   # any Python with PyJWT[crypto] (tests/interop)
  $PY scripts/bench-credentials-check.py key KEY.pem JWKS
  $PY scripts/bench-credentials-check.py assertions JWKS BODIES CLIENT_ID AUD [SAMPLE]
  $PY scripts/bench-credentials-check.py proofs JWKS PROOFS HTU [SAMPLE]

key: the PEM is a P-256 PKCS#8 key of mode 0600 whose public half is the JWKS's one key,
whose kid is its RFC 7638 thumbprint. assertions: every line is a token request body
(grant_type, scope, client_assertion_type, client_assertion) whose JWT header is ES256, JWT,
the JWKS kid; iss = sub = CLIENT_ID, aud = AUD, iat now, exp at most 300 s after iat.
proofs: every line is a DPoP proof (typ dpop+jwt, ES256, the JWKS key as a public `jwk`
header, no kid) for POST HTU, iat now. In both, every jti is 128 random bits, base64url,
and no two lines share one (all lines); signatures are verified on SAMPLE lines (default
2000, spread over the file, first and last included) against the JWKS key. Prints one
"ok ..." line per check; exits 1 at the first failure.
"""
import base64
import hashlib
import json
import os
import stat
import sys
import time
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW_S = 120  # the material may have been made a little before this check runs


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def thumbprint(jwk):
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def load_jwks(path):
    with open(path) as f:
        keys = json.load(f)["keys"]
    if len(keys) != 1:
        fail(f"{path}: {len(keys)} keys, want 1")
    jwk = keys[0]
    if "d" in jwk:
        fail(f"{path}: the JWKS holds a private key")
    if (jwk.get("kty"), jwk.get("crv"), jwk.get("alg")) != ("EC", "P-256", "ES256"):
        fail(f"{path}: not an ES256 P-256 key: {jwk}")
    if jwk.get("kid") != thumbprint(jwk):
        fail(f"{path}: kid {jwk.get('kid')} is not the RFC 7638 thumbprint {thumbprint(jwk)}")
    return jwk, jwt.PyJWK(jwk).key


def check_key(pem_path, jwks_path):
    mode = stat.S_IMODE(os.stat(pem_path).st_mode)
    if mode != 0o600:
        fail(f"{pem_path}: mode {mode:o}, want 600")
    with open(pem_path, "rb") as f:
        data = f.read()
    if not data.startswith(b"-----BEGIN PRIVATE KEY-----"):
        fail(f"{pem_path}: not a PKCS#8 PEM")
    private = load_pem_private_key(data, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        fail(f"{pem_path}: not a P-256 key")
    jwk, public = load_jwks(jwks_path)
    if private.public_key().public_numbers() != public.public_numbers():
        fail(f"{jwks_path}: the public key is not {pem_path}'s")
    print(f"ok key: PKCS#8 P-256, mode 600, JWKS holds its public half, kid {jwk['kid']} = RFC 7638 thumbprint")


def sample_indexes(n, sample):
    if n <= sample:
        return set(range(n))
    step = (n - 1) / (sample - 1)
    return {round(i * step) for i in range(sample)}


def check_times(claims, where):
    now = time.time()
    if not now - CLOCK_SKEW_S <= claims["iat"] <= now + 5:
        fail(f"{where}: iat {claims['iat']} is not now ({now:.0f})")


def check_lines(path, sample, check_one):
    """Run check_one(line, verify) on every line (verify on the sampled ones); every jti
    must be 16 bytes and unique."""
    with open(path) as f:
        lines = f.read().splitlines()
    if not lines:
        fail(f"{path}: empty")
    chosen = sample_indexes(len(lines), sample)
    seen = set()
    for i, line in enumerate(lines):
        jti = check_one(line, i in chosen, f"{path}:{i + 1}")
        if len(b64url_decode(jti)) != 16:
            fail(f"{path}:{i + 1}: jti {jti} is not 128 bits")
        if jti in seen:
            fail(f"{path}:{i + 1}: jti {jti} repeats")
        seen.add(jti)
    print(f"ok {path}: {len(lines)} lines, {len(seen)} distinct 128-bit jti, {len(chosen)} signatures verified")


def check_assertions(jwks_path, bodies, client, aud, sample):
    jwk, public = load_jwks(jwks_path)

    def one(line, verify, where):
        form = parse_qs(line, strict_parsing=True, keep_blank_values=True)
        if sorted(form) != ["client_assertion", "client_assertion_type", "grant_type", "scope"]:
            fail(f"{where}: parameters {sorted(form)}")
        if any(len(v) != 1 for v in form.values()):
            fail(f"{where}: a repeated parameter")
        if form["grant_type"] != ["client_credentials"] or form["client_assertion_type"] != [JWT_BEARER]:
            fail(f"{where}: grant_type or client_assertion_type: {form}")
        token = form["client_assertion"][0]
        header = jwt.get_unverified_header(token)
        if header != {"alg": "ES256", "typ": "JWT", "kid": jwk["kid"]}:
            fail(f"{where}: header {header}")
        if verify:
            claims = jwt.decode(token, public, algorithms=["ES256"], audience=aud, issuer=client,
                                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]})
        else:
            claims = json.loads(b64url_decode(token.split(".")[1]))
        if claims["sub"] != client or claims["iss"] != client or claims["aud"] != aud:
            fail(f"{where}: iss/sub/aud {claims}")
        if not 0 < claims["exp"] - claims["iat"] <= 300:
            fail(f"{where}: exp - iat = {claims['exp'] - claims['iat']}")
        check_times(claims, where)
        return claims["jti"]

    check_lines(bodies, sample, one)


def check_proofs(jwks_path, proofs, htu, sample):
    jwk, _ = load_jwks(jwks_path)
    public_members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}

    def one(token, verify, where):
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256" or "kid" in header:
            fail(f"{where}: header {header}")
        if header.get("jwk") != public_members:
            fail(f"{where}: jwk header {header.get('jwk')} is not the JWKS key's public members")
        if verify:
            # As a server does: the key comes from the proof's own header.
            key = jwt.PyJWK(header["jwk"], algorithm="ES256").key
            claims = jwt.decode(token, key, algorithms=["ES256"],
                                options={"require": ["jti", "htm", "htu", "iat"]})
        else:
            claims = json.loads(b64url_decode(token.split(".")[1]))
        if claims["htm"] != "POST" or claims["htu"] != htu:
            fail(f"{where}: htm/htu {claims}")
        check_times(claims, where)
        return claims["jti"]

    check_lines(proofs, sample, one)


def main(argv):
    if len(argv) >= 3 and argv[0] == "key":
        check_key(argv[1], argv[2])
    elif len(argv) in (5, 6) and argv[0] == "assertions":
        check_assertions(argv[1], argv[2], argv[3], argv[4], int(argv[5]) if len(argv) > 5 else 2000)
    elif len(argv) in (4, 5) and argv[0] == "proofs":
        check_proofs(argv[1], argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 2000)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
