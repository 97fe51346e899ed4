// A real OpenID Provider for the OAuth tests: panva's certified `oidc-provider`, on loopback.
//
// Env: OP_PORT (listen port), OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URIS (comma-separated).
// Accounts come from the login name typed on the provider's (development) login page:
//   "v:<e-mail>" -> an account whose e-mail is verified, "u:<e-mail>" -> not verified,
//   "x:<e-mail>" -> verified, but its authorization code lives 1 s and the redirect that
//   carries it back to the client is held 2.5 s (the client receives an expired code).
// The subject ("sub") is the login name itself. PKCE (S256) is required for every client.
// Prints one line "ready <issuer>" once it listens.
import * as crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

function account(id) {
  const [kind, ...rest] = id.split(':');
  const email = rest.join(':');
  if (!['v', 'u', 'x'].includes(kind) || !email) return undefined;
  return {
    accountId: id,
    claims: async () => ({ sub: id, email, email_verified: kind !== 'u', name: email.split('@')[0] }),
  };
}

let holdNextRedirect = false; // set when an "x:" account's short-lived code is issued

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OP_CLIENT_ID,
    client_secret: process.env.OP_CLIENT_SECRET,
    redirect_uris: process.env.OP_REDIRECT_URIS.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  findAccount: async (ctx, id) => account(id),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  ttl: {
    AuthorizationCode: (ctx, code) => {
      if (code.accountId?.startsWith('x:')) { holdNextRedirect = true; return 1; }
      return 60;
    },
    AccessToken: 300, IdToken: 300, Interaction: 300, Session: 600, Grant: 600 },
});
provider.use(async (ctx, next) => {
  await next();
  if (holdNextRedirect && ctx.status >= 300 && ctx.status < 400 && String(ctx.response.get('location')).includes('code=')) {
    holdNextRedirect = false;
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
});
// no stack traces of expected protocol errors on stderr
provider.on('server_error', (ctx, err) => console.error('server_error', err));

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
