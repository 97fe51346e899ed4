// Data: entities, rows (pagination, sort, filter builder writing the Data query language),
// inline create / edit / delete with field errors, live updates over the Realtime WebSocket;
// relations: the foreign-key fields are columns (a select of the target's rows when editing)
// and each row shows its related rows through every relation (GET /api/data/info/:e says which).
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, select} from "./dom.js";
import {coerce, conditions} from "./filters.js";

const LIMIT = 10;

export async function entities() {
  return (await get("/api/data")).entities || {};
}

function display(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export async function dataView(main, [current]) {
  const all = await entities();
  const names = Object.keys(all);
  const name = current && all[current] ? current : names[0];
  const side = h("aside", {id: "entity-list"}, h("h3", {}, t("entities")),
    ...names.map((n) => h("a", {href: `#/data/${encodeURIComponent(n)}`, class: n === name ? "on" : "", "data-entity": n}, n)));
  const body = h("div", {class: "content"});
  main.append(h("div", {class: "split"}, side, body));
  if (!name) { body.append(h("p", {class: "muted"}, t("noRows"))); return null; }

  const info = await get(`/api/data/info/${encodeURIComponent(name)}`);
  const declared = Object.entries(all[name].fields || {})
    .filter(([, f]) => f.type !== "relation" && f.type !== "media" && !(f.config && f.config.virtual));
  // the foreign keys of to-one relations (posts_id → posts): columns the schema does not list
  const keys = (info.fields || []).filter((f) => f.type === "relation" && f.config && f.config.target)
    .map((f) => [f.name, {type: "relation", config: f.config,
      numeric: !(all[f.config.target] && all[f.config.target].config && all[f.config.target].config.primary_format === "uuid")}]);
  const fields = [...declared, ...keys];
  const byName = Object.fromEntries(fields);
  const references = ((info.relations && info.relations.all) || []).map((r) => r.ref);
  // the rows a foreign key may point at (the first 100 of the target), for the edit selects
  const targets = {};
  await Promise.all(keys.map(async ([, f]) => {
    const target = f.config.target;
    if (targets[target]) return;
    try {
      const r = await get(`/api/data/entity/${encodeURIComponent(target)}`, {limit: 100});
      targets[target] = r.data || [];
    } catch { targets[target] = []; }
  }));
  const label = (row) => {
    const text = Object.entries(row).find(([k, v]) => k !== "id" && typeof v === "string" && v);
    return text ? `${row.id} · ${text[1]}` : String(row.id);
  };
  const st = {offset: 0, sort: "", where: null, conditions: [], editing: null, creating: false, related: null, rows: [], count: 0};

  // -- filter builder -------------------------------------------------------------------
  const cond = conditions(fields, {id: "conditions"});
  const queryText = h("code", {id: "query-text"}, "{}");
  const filterBox = h("div", {class: "filter"},
    h("strong", {}, t("filter")), cond.el,
    h("div", {}, h("button", {id: "filter-add", onclick: () => cond.add()}, t("addCondition")),
      h("button", {id: "filter-apply", class: "primary", onclick: () => { st.where = cond.where(); st.offset = 0; load(); }}, t("apply")),
      h("button", {id: "filter-clear", onclick: () => { cond.clear(); st.where = null; st.offset = 0; load(); }}, t("clear"))),
    h("div", {class: "query"}, t("query"), ": ", queryText));

  // -- table ----------------------------------------------------------------------------
  const table = h("table", {id: "rows", "data-entity": name});
  const pager = h("div", {class: "pager"});
  const live = h("span", {id: "live", class: "badge"}, "…");
  const error = h("p", {id: "rows-error", class: "error"});
  body.append(
    h("div", {class: "toolbar"}, h("h2", {}, name), live,
      h("button", {id: "row-new", class: "primary", onclick: () => { st.creating = true; st.editing = null; draw(); }}, t("newRow"))),
    filterBox, error, table, pager);

  function input(fname, f, value) {
    const attrs = {name: fname, "data-field": fname, class: "cell-input"};
    if (f.type === "boolean") return h("input", {...attrs, type: "checkbox", checked: !!value});
    if (f.type === "relation") {
      const opts = (targets[f.config.target] || []).map((r) => [String(r.id), label(r)]);
      const current = value === null || value === undefined ? "" : String(value);
      if (current && !opts.some(([v]) => v === current)) opts.push([current, current]);
      return select({...attrs, "data-target": f.config.target}, [["", "—"], ...opts], current);
    }
    if (f.type === "enum") {
      const opts = (f.config && f.config.options && (f.config.options.values || f.config.options)) || [];
      return select(attrs, ["", ...(Array.isArray(opts) ? opts : [])], value ?? "");
    }
    return h("input", {...attrs, type: f.type === "number" ? "number" : "text", step: f.type === "number" ? "any" : null,
      value: f.type === "json" ? display(value) : (value ?? "")});
  }

  function formRow(row) {
    const tr = h("tr", {class: "editing", id: row ? `edit-${row.id}` : "row-create"});
    tr.append(h("td", {}, row ? String(row.id) : "+"));
    for (const [fname, f] of fields) {
      tr.append(h("td", {}, input(fname, f, row ? row[fname] : (f.config && f.config.default_value))));
    }
    const values = () => {
      const out = {};
      for (const el of tr.querySelectorAll("[data-field]")) {
        const f = byName[el.dataset.field];
        const raw = el.type === "checkbox" ? el.checked : el.value;
        const v = coerce(f, raw);
        if (!row && (v === null || v === "")) continue;
        if (row && display(row[el.dataset.field]) === display(v)) continue;
        out[el.dataset.field] = v;
      }
      return out;
    };
    const save = async () => {
      error.textContent = "";
      try {
        if (row) await call("PATCH", `/api/data/entity/${name}/${row.id}`, values());
        else await call("POST", `/api/data/entity/${name}`, values());
        st.editing = null; st.creating = false;
        await load();
      } catch (e) {
        for (const old of tr.querySelectorAll(".field-error")) old.remove();
        const field = e.body && e.body.context && e.body.context.field;
        const cell = field && tr.querySelector(`[data-field="${CSS.escape(field)}"]`);
        if (cell) cell.parentElement.append(h("div", {class: "field-error", "data-error-for": field}, e.message));
        else error.textContent = e.message;
      }
    };
    tr.append(h("td", {class: "actions"},
      h("button", {class: "primary row-save", onclick: save}, t("save")),
      h("button", {class: "row-cancel", onclick: () => { st.editing = null; st.creating = false; draw(); }}, t("cancel"))));
    return tr;
  }

  function draw() {
    clear(table);
    const sortBy = st.sort.replace(/^-/, "");
    const head = h("tr", {}, ...["id", ...fields.map(([n]) => n)].map((col) =>
      h("th", {"data-sort": col, class: "sortable", onclick: () => {
        st.sort = sortBy === col && !st.sort.startsWith("-") ? `-${col}` : col; st.offset = 0; load();
      }}, col, sortBy === col ? (st.sort.startsWith("-") ? " ▼" : " ▲") : "")), h("th", {}, ""));
    table.append(h("thead", {}, head));
    const tbody = h("tbody", {});
    if (st.creating) tbody.append(formRow(null));
    for (const row of st.rows) {
      if (st.editing === row.id) { tbody.append(formRow(row)); continue; }
      tbody.append(h("tr", {"data-id": row.id},
        h("td", {}, String(row.id)), ...fields.map(([n]) => h("td", {"data-col": n}, display(row[n]))),
        h("td", {class: "actions"},
          references.length ? h("button", {class: "row-related", onclick: () => {
            st.related = st.related === row.id ? null : row.id; draw();
          }}, t("related")) : null,
          h("button", {class: "row-edit", onclick: () => { st.editing = row.id; st.creating = false; draw(); }}, t("edit")),
          h("button", {class: "row-delete danger", onclick: async () => {
            if (!confirm(t("confirmDelete"))) return;
            try { await call("DELETE", `/api/data/entity/${name}/${row.id}`); await load(); } catch (e) { error.textContent = e.message; }
          }}, t("del")))));
      if (st.related === row.id) tbody.append(relatedRow(row));
    }
    if (!st.rows.length && !st.creating) tbody.append(h("tr", {}, h("td", {colspan: fields.length + 2, class: "muted"}, t("noRows"))));
    table.append(tbody);
    clear(pager);
    const first = st.count ? st.offset + 1 : 0, last = st.offset + st.rows.length;
    pager.append(
      h("button", {id: "page-prev", disabled: st.offset === 0 ? true : null, onclick: () => { st.offset = Math.max(0, st.offset - LIMIT); load(); }}, t("prev")),
      h("span", {id: "page-info"}, t("pageOf", first, last, st.count)),
      h("button", {id: "page-next", disabled: last >= st.count ? true : null, onclick: () => { st.offset += LIMIT; load(); }}, t("next")));
  }

  // the rows related to one row, through each relation: GET /api/data/entity/:e/:id/:reference
  function relatedRow(row) {
    const box = h("div", {class: "related"});
    const tr = h("tr", {class: "related-of", "data-related-for": row.id}, h("td", {colspan: fields.length + 2}, box));
    for (const ref of references) {
      const part = h("div", {class: "related-ref", "data-ref": ref}, h("strong", {}, ref), " ", h("span", {class: "muted"}, t("loading")));
      box.append(part);
      get(`/api/data/entity/${encodeURIComponent(name)}/${encodeURIComponent(row.id)}/${encodeURIComponent(ref)}`, {limit: 10})
        .then((r) => {
          const rows = r.data || [];
          const cols = rows.length ? Object.keys(rows[0]) : [];
          part.lastChild.remove();
          part.append(h("span", {class: "muted related-count"}, t("relatedCount", (r.meta && (r.meta.count ?? r.meta.items)) ?? rows.length)),
            rows.length ? h("table", {class: "related-rows"}, h("tr", {}, ...cols.map((c) => h("th", {}, c))),
              ...rows.map((x) => h("tr", {"data-related-id": x.id}, ...cols.map((c) => h("td", {}, display(x[c])))))) : null);
        })
        .catch((e) => { part.lastChild.textContent = e.message; });
    }
    return tr;
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    queryText.textContent = JSON.stringify(st.where || {});
    error.textContent = "";
    try {
      const r = await get(`/api/data/entity/${name}`, {limit: LIMIT, offset: st.offset, sort: st.sort || undefined,
        where: st.where ? JSON.stringify(st.where) : undefined});
      if (mine !== seq) return;
      st.rows = r.data || [];
      st.count = (r.meta && (r.meta.count ?? r.meta.items)) || 0;
    } catch (e) {
      if (mine !== seq) return;
      st.rows = []; st.count = 0; error.textContent = e.message;
    }
    if (st.editing === null && !st.creating) draw();
  }

  // -- live rows: a burst of events costs one reload at a time, plus one after it -----------
  let running = null, again = false;
  async function refresh() {
    if (running) { again = true; return; }
    running = load();
    await running;
    running = null;
    if (again) { again = false; refresh(); }
  }

  // -- live rows --------------------------------------------------------------------------
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/realtime`);
  ws.onopen = () => ws.send(JSON.stringify({op: "subscribe", channel: `data:${name}`, id: "s1"}));
  ws.onmessage = (m) => {
    const frame = JSON.parse(m.data);
    if (frame.op === "subscribed") { live.textContent = t("live"); live.classList.add("on"); }
    else if (frame.op === "event") refresh();
  };
  ws.onclose = () => { live.textContent = "offline"; live.classList.remove("on"); };

  await load();
  return () => ws.close();
}
