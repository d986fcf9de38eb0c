// node-oidc-provider as the peer of scripts/bench-peer.sh: the client-credentials grant with
// JWT access tokens signed ES256, one client (client_secret_basic), one EC P-256 key generated
// at start. Run from the folder where its package.json was installed (bench-peer.sh copies
// this file to target/peer):
//
//   NODE_ENV=production PEER_PORT=3000 PEER_CLIENT_SECRET=... node provider.mjs
//
// Token endpoint: POST /token. Static route for the ceiling: GET /healthz, a middleware in the
// provider's own Koa stack (provider.use puts it ahead of the provider's router), answering
// "ok" like edgeauth's /healthz.
import * as crypto from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PEER_PORT || 3000);
const secret = process.env.PEER_CLIENT_SECRET;
if (!secret) {
  console.error('provider.mjs: PEER_CLIENT_SECRET is required');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const audience = 'urn:edgeauth:bench';

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', use: 'sig', alg: 'ES256' };

const resourceServer = {
  scope: 'read write',
  audience,
  accessTokenFormat: 'jwt',
  accessTokenTTL: 3600,
  jwt: { sign: { alg: 'ES256' } },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256', // the only key is EC P-256 (the default is RS256)
    scope: 'read write',
  }],
  jwks: { keys: [jwk] },
  scopes: ['read', 'write'],
  ttl: { ClientCredentials: 3600 },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => resourceServer,
    },
  },
});

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/healthz') {
    ctx.body = 'ok';
    return;
  }
  await next();
});

provider.on('server_error', (ctx, err) => console.error('provider.mjs: server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.error(`provider.mjs: ${issuer} (NODE_ENV=${process.env.NODE_ENV}, pid ${process.pid})`);
});
