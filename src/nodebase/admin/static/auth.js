// Auth: users (create, change role), roles with permissions and a row filter, API keys.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section, select} from "./dom.js";
import {entities} from "./data.js";
import {conditions} from "./filters.js";

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

  // roles: every role is an editor (permissions, one entity's row filter written by a small
  // builder or as JSON); the server validates the document and its errors land on the field
  const permNames = (Array.isArray(perms) ? perms : (perms.permissions || perms.data || [])).map((p) => typeof p === "string" ? p : p.name);
  const entityFields = (e) => Object.entries((all[e] && all[e].fields) || {}).filter(([, f]) => f.type !== "media");

  const unknownFields = (q, known) => {
    if (!q || typeof q !== "object" || Array.isArray(q)) return [];
    return Object.entries(q).flatMap(([k, v]) => {
      if (k === "$or" || k === "$and") {
        return (Array.isArray(v) ? v : [v]).flatMap((sub) => unknownFields(sub, known));
      }
      return k.startsWith("$") || k.includes(".") || known.includes(k) ? [] : [k];
    });
  };

  function roleEditor(roleName, doc) {
    const key = roleName || "new";
    const entries = (doc.permissions || []).map((p) => typeof p === "string" ? {permission: p} : p);
    const byPerm = Object.fromEntries(entries.map((p) => [p.permission, p]));
    const firstFilter = entries.flatMap((p) => p.policies || []).find((x) => x.effect === "filter" && x.condition && typeof x.condition.entity === "string");
    const nameIn = roleName ? null : h("input", {id: "role-name", placeholder: t("roleName")});
    const boxes = permNames.map((p) => h("label", {class: "perm"},
      h("input", {type: "checkbox", value: p, "data-perm": p, checked: !!byPerm[p] && byPerm[p].effect !== "deny"}), p));
    const fEntity = select({class: "role-filter-entity", id: roleName ? null : "role-filter-entity"}, ["", ...Object.keys(all)],
      firstFilter ? firstFilter.condition.entity : "");
    const fJson = h("textarea", {class: "role-filter", id: roleName ? null : "role-filter", rows: 2, placeholder: t("rowFilter"), "data-field": "filter"},
      firstFilter ? JSON.stringify(firstFilter.filter) : "");
    const fErr = h("div", {class: "field-error role-filter-error", "data-error-for": "filter"});
    const err = h("p", {class: "error role-error", id: roleName ? null : "role-error"});
    // the builder: conditions on the chosen entity's fields, written into the JSON box
    const builderBox = h("div", {class: "role-builder"});
    let builder = null;
    const makeBuilder = () => {
      clear(builderBox);
      if (!fEntity.value) { builder = null; return; }
      builder = conditions(entityFields(fEntity.value), {placeholders: true, onchange: () => {
        const w = builder && builder.where();
        fJson.value = w ? JSON.stringify(w) : "";
      }});
      builderBox.append(builder.el, h("button", {class: "role-cond-add", onclick: () => builder.add()}, t("addCondition")));
    };
    fEntity.addEventListener("change", makeBuilder);
    makeBuilder();
    const showErrors = (e) => {
      const list = (e.body && Array.isArray(e.body.errors)) ? e.body.errors : [];
      const onFilter = list.filter((x) => /\.filter(\b|\.|$)/.test(x.path || "") || /\.filter[.:]/.test(x.error || ""));
      if (onFilter.length) fErr.textContent = onFilter.map((x) => x.error).join("; ");
      else err.textContent = errorOf(e);
    };
    const save = async () => {
      fErr.textContent = ""; err.textContent = "";
      let filter = null;
      if (fJson.value.trim()) {
        try { filter = JSON.parse(fJson.value); } catch { fErr.textContent = t("badJson"); return; }
      }
      const entity = fEntity.value;
      // field names are checked here, against the entity's schema (the server checks operators
      // and structure); a dotted path (a relation) is left to the server
      const unknown = filter && entity ? unknownFields(filter, ["id", ...Object.keys((all[entity] && all[entity].fields) || {})]) : [];
      if (unknown.length) { fErr.textContent = `${t("unknownField")} ${entity}: ${unknown.join(", ")}`; return; }
      const permissions = boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => {
        const old = byPerm[c.value] || {};
        // keep the entry's other policies; this editor owns the filter on the chosen entity
        const kept = (old.policies || []).filter((x) => !(x.effect === "filter" && x.condition && (x.condition.entity === entity ||
          (firstFilter && x.condition.entity === firstFilter.condition.entity))));
        const p = {...old, permission: c.value, effect: "allow"};
        const policies = [...kept];
        if (filter && entity && ROW_PERMISSIONS.includes(c.value)) policies.push({condition: {entity}, effect: "filter", filter});
        if (policies.length) p.policies = policies; else delete p.policies;
        return p;
      });
      const body = {...doc, permissions};
      try {
        if (roleName) {
          await call("PUT", `/api/system/config/overwrite/auth/roles.${roleName}`, body);
          show(h("p", {class: "ok"}, t("saved")));
        } else {
          await call("POST", `/api/system/config/add/auth/roles.${nameIn.value.trim()}`, {permissions});
          rerender();
        }
      } catch (e) { showErrors(e); }
    };
    return h("div", {class: "role-editor", "data-role-editor": key},
      nameIn, doc.implicit_allow ? h("p", {class: "muted"}, t("implicitAllow")) : null,
      h("div", {class: "perms"}, ...boxes),
      h("label", {}, t("filterEntity"), fEntity), builderBox,
      h("label", {}, t("rowFilter"), fJson), fErr, err,
      h("button", {class: "primary role-save", id: roleName ? null : "role-create", onclick: save}, roleName ? t("save") : t("create")));
  }
  const rolesBox = section(t("roles"),
    ...roleNames.map((r) => h("details", {"data-role": r}, h("summary", {}, r), roleEditor(r, roles[r]))),
    h("h3", {}, t("newRole")), roleEditor(null, {}));

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
