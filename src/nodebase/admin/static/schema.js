// Schema: entities, fields, relations and indices through the config API. A change to an
// existing field, a relation or an index is first sent as a dry run (?plan=1): the page shows
// the sync plan (the SQL the server would run) and a readable diff, and applies it only on
// "Apply". A destructive change answers 409 with the drops, shown here, and is repeated with
// ?drop=1 only after an explicit "Drop anyway", exactly as the API asks.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section, select} from "./dom.js";
import {entities} from "./data.js";

const TYPES = ["text", "number", "boolean", "date", "enum", "json"];
const RELATION_TYPES = ["n:1", "1:1", "m:n"];

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

// the plan of a dry run or of a 409: one line per change, its SQL below, drops marked
function planList(changes, id) {
  if (!changes.length) return h("p", {id, class: "muted"}, t("noChanges"));
  return h("ul", {id, class: "plan"}, ...changes.map((c) => h("li", {class: c.destructive ? "change destructive" : "change", "data-kind": c.kind},
    h("strong", {}, c.kind), " ", `${c.table}${c.name && c.name !== c.table ? "." + c.name : ""}`,
    c.destructive ? h("span", {class: "badge danger-badge"}, t("dropsData")) : null,
    (c.sql || []).length ? pre(c.sql.join(";\n") + ";", {class: "sql"}) : null)));
}

function diff(before, after) {
  return h("div", {class: "diff", id: "plan-diff"},
    h("div", {}, h("div", {class: "muted"}, t("before")), pre(before === undefined ? "—" : before, {class: "diff-old"})),
    h("div", {}, h("div", {class: "muted"}, t("after")), pre(after === undefined ? "—" : after, {class: "diff-new"})));
}

export async function schemaView(main) {
  const [all, cfg] = await Promise.all([entities(), get("/api/system/config/data")]);
  const config = cfg.config || {};
  const out = h("div", {id: "schema-result"});
  const show = (node) => { clear(out); out.append(node); out.scrollIntoView({block: "nearest"}); };
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
        const changes = (e.body.context && e.body.context.changes) || [];
        show(h("div", {class: "warn", id: "destructive"}, h("p", {}, t("destructive")), h("p", {class: "error"}, e.message),
          planList(changes, "destructive-plan"),
          h("button", {id: "confirm-drop", class: "danger", onclick: async () => {
            try { await call(method, path + "?drop=1", body); rerender(); } catch (e2) { show(h("p", {class: "error", id: "schema-error"}, errorOf(e2))); }
          }}, t("confirmDrop")), h("button", {id: "drop-cancel", onclick: () => clear(out)}, t("cancel"))));
      } else show(h("p", {class: "error", id: "schema-error"}, errorOf(e)));
    }
  }

  // a dry run first: the sync plan and the diff, then "Apply" (which may still ask to drop)
  async function review(title, method, path, body, before, after) {
    let plan;
    try { plan = (await call(method, path + "?plan=1", body)).plan; } catch (e) { show(h("p", {class: "error", id: "schema-error"}, errorOf(e))); return; }
    show(h("div", {class: plan.destructive ? "warn review" : "review", id: "review"},
      h("h3", {}, title), diff(before, after), h("strong", {}, t("syncPlan")), planList(plan.changes, "plan"),
      plan.destructive ? h("p", {class: "error"}, t("planDrops")) : null,
      h("button", {id: "plan-apply", class: "primary", onclick: () => change(method, path, body)}, t("applyChange")),
      h("button", {id: "plan-cancel", onclick: () => clear(out)}, t("cancel"))));
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

  // change an existing field: its name, type and config (JSON), reviewed before it is applied
  function editField(entity, fname, f, tr) {
    const own = (config.entities && config.entities[entity] && config.entities[entity].fields) || {};
    const nameIn = h("input", {class: "edit-field-name", value: fname});
    const typeIn = select({class: "edit-field-type"}, TYPES.includes(f.type) ? TYPES : [f.type, ...TYPES], f.type);
    const cfgIn = h("textarea", {class: "edit-field-config", rows: 2}, JSON.stringify(f.config || {}));
    const err = h("div", {class: "field-error edit-field-error"});
    const form = h("tr", {class: "editing", "data-edit-field": fname}, h("td", {}, nameIn), h("td", {}, typeIn), h("td", {}, cfgIn, err),
      h("td", {class: "actions"}, h("button", {class: "primary edit-field-review", onclick: () => {
        let fieldConfig;
        try { fieldConfig = cfgIn.value.trim() ? JSON.parse(cfgIn.value) : {}; } catch { err.textContent = t("badJson"); return; }
        const spec = {type: typeIn.value, config: fieldConfig};
        const newName = nameIn.value.trim();
        if (newName === fname) {
          review(`${entity}.${fname}`, "PUT", `/api/system/config/overwrite/data/entities.${entity}.fields.${fname}`, spec,
            {[fname]: own[fname] || f}, {[fname]: spec});
        } else {  // a rename: the field map with the new name in the old place (drops the old column)
          const fields = Object.fromEntries(Object.entries(own).map(([k, v]) => k === fname ? [newName, spec] : [k, v]));
          review(`${entity}.${fname} → ${newName}`, "PUT", `/api/system/config/overwrite/data/entities.${entity}.fields`, fields,
            {[fname]: own[fname] || f}, {[newName]: spec});
        }
      }}, t("review")), h("button", {class: "edit-field-cancel", onclick: () => form.replaceWith(tr)}, t("cancel"))));
    tr.replaceWith(form);
  }

  const list = section(t("entities"), ...names.map((n) => h("div", {class: "entity", "data-entity": n},
    h("h3", {}, n),
    h("table", {}, h("tr", {}, h("th", {}, t("fieldName")), h("th", {}, t("type")), h("th", {}, "config"), h("th", {}, "")),
      ...Object.entries(all[n].fields || {}).map(([fname, f]) => {
        const tr = h("tr", {"data-field": fname},
          h("td", {}, fname), h("td", {}, f.type), h("td", {}, JSON.stringify(f.config || {})),
          h("td", {class: "actions"},
            h("button", {class: "field-edit", onclick: () => editField(n, fname, f, tr)}, t("edit")),
            h("button", {class: "danger field-drop", onclick: () =>
              change("DELETE", `/api/system/config/remove/data/entities.${n}.fields.${fname}`)}, t("dropField"))));
        return tr;
      })))));

  // relations
  const relations = config.relations || {};
  const rType = select({id: "relation-type"}, RELATION_TYPES);
  const rSource = select({id: "relation-source"}, names);
  const rTarget = select({id: "relation-target"}, names);
  const rMapped = h("input", {id: "relation-mapped", placeholder: t("mappedBy"), class: "short"});
  const relationsBox = section(t("relations"),
    h("table", {id: "relations"}, h("tr", {}, h("th", {}, t("name")), h("th", {}, t("type")), h("th", {}, t("sourceTarget")), h("th", {}, "config"), h("th", {}, "")),
      ...Object.entries(relations).map(([rn, r]) => h("tr", {"data-relation": rn},
        h("td", {}, rn), h("td", {}, r.type), h("td", {}, `${r.source} → ${r.target}`), h("td", {}, JSON.stringify(r.config || {})),
        h("td", {class: "actions"}, h("button", {class: "danger relation-remove", onclick: () =>
          review(`${t("removeRelation")} ${rn}`, "DELETE", `/api/system/config/remove/data/relations.${rn}`, undefined, {[rn]: r}, undefined)}, t("del")))))),
    h("div", {class: "row"}, rSource, rType, rTarget, rMapped,
      h("button", {id: "relation-create", class: "primary", onclick: () => {
        const rel = {type: rType.value, source: rSource.value, target: rTarget.value};
        if (rMapped.value.trim()) rel.config = {mappedBy: rMapped.value.trim()};
        const rn = `${rel.type.replace(":", "")}_${rel.source}_${rel.target}${rMapped.value.trim() ? "_" + rMapped.value.trim() : ""}`;
        review(`${t("addRelation")} ${rn}`, "POST", `/api/system/config/add/data/relations.${rn}`, rel, undefined, {[rn]: rel});
      }}, t("addRelation"))));

  // indices
  const indices = config.indices || {};
  const iEntity = select({id: "index-entity"}, names);
  const iFields = h("input", {id: "index-fields", placeholder: t("indexFields")});
  const iUnique = h("input", {id: "index-unique", type: "checkbox"});
  const indicesBox = section(t("indices"),
    h("table", {id: "indices"}, h("tr", {}, h("th", {}, t("name")), h("th", {}, t("entity")), h("th", {}, t("fields")), h("th", {}, t("unique")), h("th", {}, "")),
      ...Object.entries(indices).map(([iname, idx]) => h("tr", {"data-index": iname},
        h("td", {}, iname), h("td", {}, idx.entity), h("td", {}, (idx.fields || []).join(", ")), h("td", {}, idx.unique ? "✓" : ""),
        h("td", {class: "actions"}, h("button", {class: "danger index-remove", onclick: () =>
          review(`${t("removeIndex")} ${iname}`, "DELETE", `/api/system/config/remove/data/indices.${iname}`, undefined, {[iname]: idx}, undefined)}, t("del")))))),
    h("div", {class: "row"}, iEntity, iFields, h("label", {}, iUnique, t("unique")),
      h("button", {id: "index-create", class: "primary", onclick: () => {
        const fields = iFields.value.split(",").map((s) => s.trim()).filter(Boolean);
        const idx = {entity: iEntity.value, fields, unique: iUnique.checked};
        const iname = `idx_${idx.entity}_${fields.join("_")}`;
        review(`${t("addIndex")} ${iname}`, "POST", `/api/system/config/add/data/indices.${iname}`, idx, undefined, {[iname]: idx});
      }}, t("addIndex"))));

  const plan = h("button", {id: "sync-plan", onclick: async () => {
    try { show(pre(await get("/api/data/sync"), {id: "sync-output"})); } catch (e) { show(h("p", {class: "error"}, errorOf(e))); }
  }}, t("syncPlan"));

  main.append(h("div", {class: "content"}, h("div", {class: "toolbar"}, h("h2", {}, t("schema")), plan), out,
    h("div", {class: "cols"}, newEntity, addField), list, h("div", {class: "cols"}, relationsBox, indicesBox)));
  return null;
}
