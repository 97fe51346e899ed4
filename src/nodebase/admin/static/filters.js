// The condition rows of a filter (field, operator, value) that write the Data query language:
// used by the Data page's filter and by the role editor's row filter.
import {h, clear, select} from "./dom.js";

export const OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$like", "$in", "$isnull"];

export function coerce(field, raw) {
  if (!field) return raw;
  if (field.type === "relation") return raw === "" ? null : (field.numeric ? Number(raw) : raw);
  if (field.type === "number") return raw === "" ? null : Number(raw);
  if (field.type === "boolean") return raw;
  if (field.type === "json") { try { return raw === "" ? null : JSON.parse(raw); } catch { return raw; } }
  return raw === "" ? null : raw;
}

function filterValue(field, op, raw, placeholders) {
  if (placeholders && typeof raw === "string" && raw.startsWith("@")) return raw;  // @user.id
  if (op === "$isnull") return raw === "true" || raw === "1";
  if (op === "$in") return raw.split(",").map((s) => filterValue(field, "$eq", s.trim(), placeholders));
  if (field && field.type === "boolean") return raw === "true" || raw === "1";
  return coerce(field, raw);
}

// fields: [[name, spec], ...]; "id" is always offered. placeholders: keep "@..." values as text.
export function conditions(fields, {id, placeholders = false, onchange} = {}) {
  const byName = Object.fromEntries(fields);
  const box = h("div", {id, class: "conditions"});
  const names = ["id", ...fields.map(([n]) => n).filter((n) => n !== "id")];
  const add = (field = names[0], op = "$eq", value = "") => {
    const f = select({class: "cond-field", onchange}, names, field);
    const o = select({class: "cond-op", onchange}, OPS, op);
    const v = h("input", {class: "cond-value", placeholder: "value", value, oninput: onchange});
    const row = h("div", {class: "cond"}, f, o, v,
      h("button", {class: "cond-remove", onclick: () => { row.remove(); if (onchange) onchange(); }}, "×"));
    box.append(row);
    if (onchange) onchange();
  };
  const where = () => {
    const out = {};
    for (const row of box.querySelectorAll(".cond")) {
      const f = row.querySelector(".cond-field").value, op = row.querySelector(".cond-op").value;
      const raw = row.querySelector(".cond-value").value;
      const spec = f === "id" ? {type: "number"} : byName[f];
      out[f] = Object.assign(out[f] || {}, {[op]: filterValue(spec, op, raw, placeholders)});
    }
    return Object.keys(out).length ? out : null;
  };
  return {el: box, add, where, clear: () => clear(box)};
}
