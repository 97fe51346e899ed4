// Auth: users (create, change role), roles with permissions and a row filter, API keys.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section, select} from "./dom.js";
import {entities} from "./data.js";

const ROW_PERMISSIONS = ["data.entity.read", "data.entity.update", "data.entity.delete"];

export async function authView(main) {
  const [authCfg, perms, users, keys, all, passkeys] = await Promise.all([
    get("/api/system/config/auth"), get("/api/system/permissions"),
    get("/api/data/entity/users", {limit: 100}), get("/api/auth/apikeys"), entities(), get("/api/auth/passkeys")]);
  const roles = authCfg.config.roles || {};
  const roleNames = Object.keys(roles);
  const msg = h("div", {id: "auth-result"});
  const show = (node) => { clear(msg); msg.append(node); };
  const rerender = () => dispatchEvent(new HashChangeEvent("hashchange"));

  // users: role, password and sessions through PATCH /api/auth/users/:id
  const manage = async (id, body) => {
    clear(msg);
    try { await call("PATCH", `/api/auth/users/${id}`, body); show(h("p", {class: "ok"}, t("saved"))); }
    catch (e) { show(h("p", {class: "error"}, errorOf(e))); }
  };
  const uEmail = h("input", {id: "user-email", type: "email", placeholder: t("email")});
  const uPass = h("input", {id: "user-password", type: "password", placeholder: t("password")});
  const uRole = select({id: "user-role"}, ["", ...roleNames]);
  const usersBox = section(t("users"),
    h("table", {id: "users"}, h("tr", {}, h("th", {}, "id"), h("th", {}, t("email")), h("th", {}, t("role")), h("th", {}, "")),
      ...(users.data || []).map((u) => {
        const pass = h("input", {class: "user-new-password short", type: "password", placeholder: t("newPassword")});
        return h("tr", {"data-user": u.email}, h("td", {}, String(u.id)), h("td", {}, u.email),
          h("td", {}, select({class: "user-role", onchange: (ev) => manage(u.id, {role: ev.target.value || null})}, ["", ...roleNames], u.role || "")),
          h("td", {class: "actions"}, pass,
            h("button", {class: "user-reset", onclick: () => manage(u.id, {password: pass.value})}, t("resetPassword")),
            h("button", {class: "user-revoke danger", onclick: () => manage(u.id, {revoke_sessions: true})}, t("revokeSessions"))));
      })),
    h("div", {class: "row"}, uEmail, uPass, uRole, h("button", {id: "user-create", class: "primary", onclick: async () => {
      try {
        await call("POST", "/api/auth/password/actions/create", {email: uEmail.value, password: uPass.value, role: uRole.value || undefined});
        rerender();
      } catch (e) { show(h("p", {class: "error", id: "user-error"}, errorOf(e))); }
    }}, t("newUser"))));

  // roles
  const permNames = (Array.isArray(perms) ? perms : (perms.permissions || perms.data || [])).map((p) => typeof p === "string" ? p : p.name);
  const rName = h("input", {id: "role-name", placeholder: t("roleName")});
  const boxes = permNames.map((p) => h("label", {class: "perm"}, h("input", {type: "checkbox", value: p, "data-perm": p}), p));
  const fEntity = select({id: "role-filter-entity"}, ["", ...Object.keys(all)]);
  const fJson = h("textarea", {id: "role-filter", rows: 2, placeholder: t("rowFilter")});
  const fErr = h("p", {id: "role-error", class: "error"});
  const createRole = async () => {
    fErr.textContent = "";
    let filter = null;
    if (fJson.value.trim()) {
      try { filter = JSON.parse(fJson.value); } catch { fErr.textContent = t("badJson"); return; }
    }
    const permissions = boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => {
      const p = {permission: c.value, effect: "allow"};
      if (filter && fEntity.value && ROW_PERMISSIONS.includes(c.value))
        p.policies = [{condition: {entity: fEntity.value}, effect: "filter", filter}];
      return p;
    });
    try { await call("POST", `/api/system/config/add/auth/roles.${rName.value.trim()}`, {permissions}); rerender(); }
    catch (e) { fErr.textContent = errorOf(e); }
  };
  const rolesBox = section(t("roles"),
    ...roleNames.map((r) => h("details", {"data-role": r}, h("summary", {}, r), pre(roles[r]))),
    h("h3", {}, t("newRole")), rName, h("div", {class: "perms"}, ...boxes),
    h("label", {}, t("filterEntity"), fEntity), h("label", {}, t("rowFilter"), fJson), fErr,
    h("button", {id: "role-create", class: "primary", onclick: createRole}, t("create")));

  // API keys
  const kName = h("input", {id: "key-name", placeholder: t("keyName")});
  const kRole = select({id: "key-role"}, roleNames);
  const keysBox = section(t("apikeys"),
    h("table", {id: "apikeys"}, h("tr", {}, h("th", {}, "name"), h("th", {}, t("role")), h("th", {}, "prefix"), h("th", {}, t("status")), h("th", {}, "")),
      ...(keys.data || []).map((k) => h("tr", {"data-key": k.name}, h("td", {}, k.name), h("td", {}, k.role), h("td", {}, k.prefix),
        h("td", {}, k.active ? "active" : t("revoked")),
        h("td", {}, k.active ? h("button", {class: "danger key-revoke", onclick: async () => {
          await call("DELETE", `/api/auth/apikeys/${k.id}`); rerender();
        }}, t("revoke")) : "")))),
    h("div", {class: "row"}, kName, kRole, h("button", {id: "key-create", class: "primary", onclick: async () => {
      try {
        const r = await call("POST", "/api/auth/apikeys", {name: kName.value, role: kRole.value});
        show(h("div", {class: "warn"}, h("p", {}, t("keyShownOnce")), h("code", {id: "new-key"}, r.data.key)));
      } catch (e) { show(h("p", {class: "error"}, errorOf(e))); }
    }}, t("create"))));

  // the admin's own passkeys
  const pkName = h("input", {id: "passkey-name", placeholder: t("keyName")});
  const addPasskey = async () => {
    clear(msg);
    try {
      const opts = await call("POST", "/api/auth/passkey/register/options", {});
      const cred = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(opts)});
      await call("POST", "/api/auth/passkey/register/verify", {credential: cred.toJSON(), name: pkName.value || null});
      rerender();
    } catch (e) { show(h("p", {class: "error"}, e.body ? errorOf(e) : String(e.message || e))); }
  };
  const passkeysBox = section(t("myPasskeys"),
    h("ul", {id: "passkeys"}, ...(passkeys.data || []).map((p) => h("li", {"data-passkey": p.name || p.id}, p.name || p.id, " ",
      h("button", {class: "danger passkey-delete", onclick: async () => {
        try { await call("DELETE", `/api/auth/passkeys/${encodeURIComponent(p.id)}`); rerender(); } catch (e) { show(h("p", {class: "error"}, errorOf(e))); }
      }}, t("del"))))),
    h("div", {class: "row"}, pkName, h("button", {id: "passkey-add", class: "primary", onclick: addPasskey}, t("addPasskey"))));

  main.append(h("div", {class: "content"}, h("h2", {}, t("auth")), msg, usersBox, keysBox, rolesBox, passkeysBox));
  return null;
}
