// Checks one token response (JSON on stdin) of scripts/bench-peer.sh: HTTP 200 is checked by
// the caller; here the access token must be a JWT whose header says alg ES256 and whose
// signature verifies against a key of the server's JWKS (fetched from the URL argument).
// Prints the header and the claims on one line; exits non-zero otherwise.
//
//   curl ... /token | node scripts/peer/check-jwt.mjs http://127.0.0.1:PORT/jwks
import * as crypto from 'node:crypto';

const [jwksUrl, name = 'server'] = process.argv.slice(2);
const fail = (msg) => { console.error(`check-jwt (${name}): ${msg}`); process.exit(1); };

let input = '';
for await (const chunk of process.stdin) input += chunk;
let body;
try { body = JSON.parse(input); } catch { fail(`not JSON: ${input.slice(0, 200)}`); }
const token = body.access_token;
if (typeof token !== 'string') fail(`no access_token in ${input.slice(0, 200)}`);
const parts = token.split('.');
if (parts.length !== 3) fail(`access_token is not a JWS compact JWT: ${token.slice(0, 80)}`);
const decode = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());
const header = decode(parts[0]);
const claims = decode(parts[1]);
if (header.alg !== 'ES256') fail(`JWT alg is ${header.alg}, not ES256`);

const jwks = await (await fetch(jwksUrl)).json();
const candidates = jwks.keys.filter((k) => k.kty === 'EC' && k.crv === 'P-256'
  && (header.kid === undefined || k.kid === header.kid));
if (candidates.length === 0) fail(`no P-256 key with kid ${header.kid} at ${jwksUrl}`);
const data = Buffer.from(`${parts[0]}.${parts[1]}`);
const sig = Buffer.from(parts[2], 'base64url');
const ok = candidates.some((jwk) => crypto.verify('sha256', data,
  { key: crypto.createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, sig));
if (!ok) fail('ES256 signature does not verify against the JWKS');
console.log(`${name}: JWT header ${JSON.stringify(header)}, signature verified (${jwksUrl}); `
  + `claims ${JSON.stringify(claims)}; token_type ${body.token_type}, expires_in ${body.expires_in}`);
