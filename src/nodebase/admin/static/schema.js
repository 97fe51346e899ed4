// Schema: entities and fields through the config API; destructive changes answer 409 with the
// drops, shown here, and are repeated with ?drop=1 only after an explicit confirmation.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section, select} from "./dom.js";
import {entities} from "./data.js";

const TYPES = ["text", "number", "boolean", "date", "enum", "json"];

function fieldForm(prefix) {
  const name = h("input", {id: `${prefix}-field-name`, placeholder: t("fieldName")});
  const type = select({id: `${prefix}-field-type`}, TYPES);
  const required = h("input", {id: `${prefix}-field-required`, type: "checkbox"});
  const unique = h("input", {id: `${prefix}-field-unique`, type: "checkbox"});
  const minLength = h("input", {id: `${prefix}-field-min`, type: "number", min: 0, placeholder: t("minLength"), class: "short"});
  const maxLength = h("input", {id: `${prefix}-field-max`, type: "number", min: 0, placeholder: t("maxLength"), class: "short"});
  const el = h("div", {class: "row"}, name, type, h("label", {}, required, t("required")),
    h("label", {}, unique, t("unique")), minLength, maxLength);
  const value = () => {
    const config = {};
    if (required.checked) config.required = true;
    if (unique.checked) config.unique = true;
    if (type.value === "text" && minLength.value !== "") config.minLength = Number(minLength.value);
    if (type.value === "text" && maxLength.value !== "") config.maxLength = Number(maxLength.value);
    return {name: name.value.trim(), spec: {type: type.value, config}};
  };
  return {el, value};
}

export async function schemaView(main) {
  const all = await entities();
  const out = h("div", {id: "schema-result"});
  const show = (node) => { clear(out); out.append(node); };
  const rerender = () => {
    if (location.hash === "#/schema") dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = "#/schema";
  };

  // a config change; a 409 destructive answer is shown and applied only when confirmed
  async function change(method, path, body) {
    try {
      await call(method, path, body);
      rerender();
    } catch (e) {
      if (e.status === 409) {
        show(h("div", {class: "warn", id: "destructive"}, h("p", {}, t("destructive")), pre(e.body.context || e.body),
          h("button", {id: "confirm-drop", class: "danger", onclick: async () => {
            try { await call(method, path + "?drop=1", body); rerender(); } catch (e2) { show(h("p", {class: "error"}, errorOf(e2))); }
          }}, t("confirmDrop")), h("button", {onclick: () => clear(out)}, t("cancel"))));
      } else show(h("p", {class: "error", id: "schema-error"}, errorOf(e)));
    }
  }

  // new entity
  const entName = h("input", {id: "entity-name", placeholder: t("entityName")});
  const first = fieldForm("new");
  const newEntity = section(t("newEntity"), h("div", {class: "row"}, entName), first.el,
    h("button", {id: "entity-create", class: "primary", onclick: () => {
      const f = first.value();
      const fields = f.name ? {[f.name]: f.spec} : {};
      change("POST", `/api/system/config/add/data/entities.${entName.value.trim()}`, {fields});
    }}, t("create")));

  // add a field
  const names = Object.keys(all);
  const target = select({id: "add-field-entity"}, names);
  const added = fieldForm("add");
  const addField = section(t("addField"), h("div", {class: "row"}, target), added.el,
    h("button", {id: "field-create", class: "primary", onclick: () => {
      const f = added.value();
      change("POST", `/api/system/config/add/data/entities.${target.value}.fields.${f.name}`, f.spec);
    }}, t("addField")));

  // the entities and their fields
  const list = section(t("entities"), ...names.map((n) => h("div", {class: "entity", "data-entity": n},
    h("h3", {}, n),
    h("table", {}, h("tr", {}, h("th", {}, t("fieldName")), h("th", {}, t("type")), h("th", {}, "config"), h("th", {}, "")),
      ...Object.entries(all[n].fields || {}).map(([fname, f]) => h("tr", {"data-field": fname},
        h("td", {}, fname), h("td", {}, f.type), h("td", {}, JSON.stringify(f.config || {})),
        h("td", {}, h("button", {class: "danger field-drop", onclick: () =>
          change("DELETE", `/api/system/config/remove/data/entities.${n}.fields.${fname}`)}, t("dropField")))))))));

  const plan = h("button", {id: "sync-plan", onclick: async () => {
    try { show(pre(await get("/api/data/sync"), {id: "sync-output"})); } catch (e) { show(h("p", {class: "error"}, errorOf(e))); }
  }}, t("syncPlan"));

  main.append(h("div", {class: "content"}, h("div", {class: "toolbar"}, h("h2", {}, t("schema")), plan), out,
    h("div", {class: "cols"}, newEntity, addField), list));
  return null;
}
