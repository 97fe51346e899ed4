"""A small built-in page (``GET /auth/passkeys``) that drives passkeys in the browser with the
native WebAuthn JSON methods (``PublicKeyCredential.parseCreationOptionsFromJSON`` /
``parseRequestOptionsFromJSON`` and ``credential.toJSON()``): no library, no build step.

Its functions are on ``window.nb`` so a test (or a developer console) can call them; each
returns ``{status, body}`` from the server or ``{error, message}`` from the browser.
"""

PASSKEY_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nodebase · passkeys</title>
<style>
 body{font:15px/1.45 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
 fieldset{border:1px solid #ccc;border-radius:8px;margin:1rem 0;padding:.8rem 1rem}
 input{font:inherit;padding:.3rem .4rem;margin:.2rem 0;width:100%;box-sizing:border-box}
 button{font:inherit;margin:.3rem .3rem 0 0;padding:.35rem .8rem}
 pre{background:#f5f5f5;padding:.6rem;border-radius:6px;white-space:pre-wrap;word-break:break-all}
 li{margin:.2rem 0}
</style></head>
<body>
<h1>Passkeys</h1>
<p id="support"></p>
<fieldset><legend>Sign in</legend>
 <input id="email" type="email" placeholder="e-mail" autocomplete="username webauthn">
 <input id="password" type="password" placeholder="password" autocomplete="current-password">
 <button id="btn-login">Sign in with password</button>
 <button id="btn-passkey">Sign in with a passkey</button>
 <button id="btn-logout">Sign out</button>
</fieldset>
<fieldset><legend>My passkeys</legend>
 <input id="pkname" placeholder="name for a new passkey (optional)">
 <button id="btn-register">Add a passkey</button>
 <ul id="list"></ul>
</fieldset>
<pre id="out">Not signed in.</pre>
<script>
(function () {
  "use strict";
  const base = "/api/auth";
  const out = document.getElementById("out");
  const $ = (id) => document.getElementById(id);
  const supported = !!(window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON && PublicKeyCredential.parseRequestOptionsFromJSON);
  $("support").textContent = supported ? "This browser supports passkeys."
    : "This browser lacks the WebAuthn JSON methods; passkeys are unavailable here.";

  const nb = {token: localStorage.getItem("auth"), lastAssertion: null, lastRegistration: null};
  function show(x) { out.textContent = JSON.stringify(x, null, 2); return x; }
  function setToken(t) { nb.token = t; if (t) localStorage.setItem("auth", t); else localStorage.removeItem("auth"); }
  async function call(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (nb.token) headers["Authorization"] = "Bearer " + nb.token;
    const res = await fetch(base + path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return {status: res.status, body: data};
  }
  function browserError(e) { return show({error: e.name || "Error", message: String(e.message || e)}); }

  nb.login = async (email, password) => {
    const r = await call("POST", "/password/login", {email, password});
    if (r.status === 200) setToken(r.body.token);
    return show(r);
  };
  nb.logout = async () => { const r = await call("GET", "/logout"); setToken(null); return show(r); };
  nb.registerPasskey = async (name) => {
    const opts = await call("POST", "/passkey/register/options", {});
    if (opts.status !== 200) return show(opts);
    let cred;
    try {
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(opts.body);
      cred = await navigator.credentials.create({publicKey});
    } catch (e) { return browserError(e); }
    nb.lastRegistration = cred.toJSON();
    const r = await call("POST", "/passkey/register/verify", {credential: nb.lastRegistration, name: name || null});
    await nb.refreshList();
    return show(r);
  };
  // options.userVerification overrides what the server asked for (to test that the server
  // enforces its own policy); options.mediation is passed to navigator.credentials.get.
  nb.loginPasskey = async (email, options) => {
    options = options || {};
    const opts = await call("POST", "/passkey/login/options", email ? {email} : {});
    if (opts.status !== 200) return show(opts);
    const json = Object.assign({}, opts.body);
    if (options.userVerification) json.userVerification = options.userVerification;
    let cred;
    try {
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(json);
      cred = await navigator.credentials.get({publicKey});
    } catch (e) { return browserError(e); }
    nb.lastAssertion = cred.toJSON();
    const r = await call("POST", "/passkey/login/verify", {credential: nb.lastAssertion});
    if (r.status === 200) setToken(r.body.token);
    return show(r);
  };
  nb.replayLastAssertion = async () => show(await call("POST", "/passkey/login/verify", {credential: nb.lastAssertion}));
  nb.listPasskeys = async () => call("GET", "/passkeys");
  nb.renamePasskey = async (id, name) => show(await call("PATCH", "/passkeys/" + encodeURIComponent(id), {name}));
  nb.deletePasskey = async (id) => {
    const r = await call("DELETE", "/passkeys/" + encodeURIComponent(id));
    await nb.refreshList();
    return show(r);
  };
  nb.refreshList = async () => {
    const r = await nb.listPasskeys();
    const list = $("list");
    list.textContent = "";
    for (const pk of (r.status === 200 ? r.body.data : [])) {
      const li = document.createElement("li");
      li.textContent = pk.name + " (used " + pk.sign_count + "×) ";
      const del = document.createElement("button");
      del.textContent = "Delete";
      del.onclick = () => nb.deletePasskey(pk.id);
      li.appendChild(del);
      list.appendChild(li);
    }
    return r;
  };
  window.nb = nb;

  // ?redirect=<path on this server>: where to go once signed in (POST /api/auth/passkey/login
  // sends a browser here, e.g. from bknd's admin sign-in page)
  const back = new URLSearchParams(location.search).get("redirect");
  nb.returnTo = back && back.startsWith("/") && !back.startsWith("//") && !back.includes("\\\\") ? back : null;
  function signedIn(r) {
    if (nb.returnTo && r && r.status === 200) { location.assign(nb.returnTo); return; }
    nb.refreshList();
  }
  $("btn-login").onclick = async () => signedIn(await nb.login($("email").value, $("password").value));
  $("btn-passkey").onclick = async () => signedIn(await nb.loginPasskey($("email").value || null));
  $("btn-logout").onclick = () => nb.logout();
  $("btn-register").onclick = () => nb.registerPasskey($("pkname").value);
  if (nb.token) nb.refreshList();
})();
</script>
</body></html>
"""
