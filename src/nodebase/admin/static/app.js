// nodebase admin: a small single page, no build step. Everything goes through the public
// HTTP API (api.js), so the server checks every permission.
import {call, get, ApiError} from "./api.js";
import {t, lang, setLang} from "./i18n.js";
import {dataView} from "./data.js";
import {schemaView} from "./schema.js";
import {authView} from "./auth.js";
import {mediaView} from "./media.js";
import {flowsView} from "./flows.js";
import {systemView} from "./system.js";
import {appsView, enabledApps} from "./apps.js";
import {h, clear} from "./dom.js";

const root = document.getElementById("app");
const VIEWS = {data: dataView, schema: schemaView, auth: authView, media: mediaView, flows: flowsView, system: systemView};
// the Apps page only when the node runs chat or Studio (their routes answer)
const withApps = (apps) => {
  if (!apps.chat && !apps.studio) return;
  const {system, ...rest} = VIEWS;
  for (const k of Object.keys(VIEWS)) delete VIEWS[k];
  Object.assign(VIEWS, rest, {apps: (main, args) => appsView(main, args, apps), system});
};
let user = null;
let cleanup = null;

function langSwitch() {
  const b = (code, label) => h("button", {id: `lang-${code}`, class: lang === code ? "lang on" : "lang",
    onclick: () => { setLang(code); render(); }}, label);
  return h("span", {class: "langs", title: t("language")}, b("en", "EN"), b("zh", "中文"));
}

function loginView() {
  const err = h("p", {id: "login-error", class: "error"});
  const email = h("input", {id: "login-email", type: "email", autocomplete: "username webauthn", placeholder: t("email")});
  const password = h("input", {id: "login-password", type: "password", autocomplete: "current-password", placeholder: t("password")});
  const submit = async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      await call("POST", "/api/auth/password/login", {email: email.value, password: password.value});
      location.reload(); // the server decides: the admin UI, or the "not an admin" page
    } catch (e) {
      err.textContent = e.status === 401 ? t("badLogin") : e.message;
    }
  };
  const passkey = async () => {
    err.textContent = "";
    try {
      const opts = await call("POST", "/api/auth/passkey/login/options", {});
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(opts);
      const cred = await navigator.credentials.get({publicKey});
      await call("POST", "/api/auth/passkey/login/verify", {credential: cred.toJSON()});
      location.reload();
    } catch (e) { err.textContent = e.message || String(e); }
  };
  const hasPasskeys = !!(window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON);
  return h("main", {class: "login"},
    h("div", {class: "login-top"}, h("h1", {}, t("title")), langSwitch()),
    h("form", {id: "login-form", onsubmit: submit},
      h("label", {}, t("email"), email), h("label", {}, t("password"), password),
      h("button", {id: "login-submit", type: "submit", class: "primary"}, t("signin")),
      hasPasskeys ? h("button", {id: "login-passkey", type: "button", onclick: passkey}, t("signinPasskey")) : null,
      err));
}

function shell(section) {
  const nav = h("nav", {},
    ...Object.keys(VIEWS).map((k) => h("a", {id: `nav-${k}`, href: `#/${k}`, class: k === section ? "on" : ""}, t(k))));
  const out = async () => { await call("POST", "/api/auth/logout", {}); location.reload(); };
  const main = h("main", {id: "view"});
  root.append(h("header", {},
    h("a", {class: "brand", href: "#/data"}, t("title")), nav,
    h("span", {class: "grow"}), langSwitch(),
    h("span", {id: "whoami", class: "muted"}, user.email || ""),
    h("button", {id: "signout", onclick: out}, t("signout"))), main);
  return main;
}

async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  clear(root);
  document.title = t("title");
  if (!user) { root.append(loginView()); return; }
  const [section, ...rest] = (location.hash.replace(/^#\/?/, "") || "data").split("/");
  const view = VIEWS[section] || dataView;
  const main = shell(VIEWS[section] ? section : "data");
  try {
    cleanup = (await view(main, rest.map(decodeURIComponent))) || null;
  } catch (e) {
    main.append(h("p", {class: "error"}, e instanceof ApiError ? `${e.status}: ${e.message}` : String(e)));
  }
}

async function start() {
  try {
    user = (await get("/api/auth/me")).user;
  } catch (e) {
    user = null;
  }
  if (user) withApps(await enabledApps());
  window.addEventListener("hashchange", render);
  await render();
}

start();
