// Drive nodebase's auth routes with bknd's own client (bknd@0.20.0, "bknd/client").
// Env: NB_URL, NB_EMAIL, NB_PASSWORD, NB_NEW_EMAIL, NB_ENTITY. Prints one JSON object.
import { Api } from "bknd/client";

const env = process.env;
const store = new Map();
const storage = {
  getItem: (k) => store.get(k) ?? null,
  setItem: (k, v) => void store.set(k, v),
  removeItem: (k) => void store.delete(k),
};
const states = [];
const api = new Api({ host: env.NB_URL, storage, onAuthStateChange: (s) => states.push(!!s.user) });
const out = {};

await api.verifyAuth();
out.anonymous = { verified: api.isAuthVerified(), user: api.getUser(), authenticated: api.isAuthenticated() };

const bad = await api.auth.login("password", { email: env.NB_EMAIL, password: "not the password" });
out.badLogin = { ok: bad.ok, status: bad.res.status, body: bad.body };

const login = await api.auth.login("password", { email: env.NB_EMAIL, password: env.NB_PASSWORD });
out.login = { ok: login.ok, status: login.res.status, user: login.body?.user, token: login.body?.token };
out.storedToken = store.get("auth") ?? null;
out.getUser = api.getUser();
out.authenticated = api.isAuthenticated();

const me = await api.auth.me();
out.me = { ok: me.ok, status: me.res.status, body: me.body };

await api.verifyAuth();
out.verified = { verified: api.isAuthVerified(), user: api.getUser() };

const rows = await api.data.readMany(env.NB_ENTITY, { limit: 5 });
out.readMany = { ok: rows.ok, status: rows.res.status };

const strategies = await api.auth.strategies();
out.strategies = { ok: strategies.ok, body: strategies.body };

await api.auth.logout();
out.afterLogout = { user: api.getUser(), stored: store.has("auth"), authenticated: api.isAuthenticated() };
const me2 = await api.auth.me();
out.meAfterLogout = { ok: me2.ok, status: me2.res.status, body: me2.body };

const reg = await api.auth.register("password", { email: env.NB_NEW_EMAIL, password: env.NB_PASSWORD });
out.register = { ok: reg.ok, status: reg.res.status, user: reg.body?.user, user2: api.getUser() };

// a token the server no longer accepts is dropped by verifyAuth
const stale = new Api({ host: env.NB_URL, token: "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.AAAA" });
await stale.verifyAuth();
out.stale = { verified: stale.isAuthVerified(), user: stale.getUser() };
out.states = states;
console.log(JSON.stringify(out));
