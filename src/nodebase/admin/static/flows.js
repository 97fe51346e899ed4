// Flows: list, a flow's tasks and connections, run with input, runs with each task's output.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// tasks in columns by their distance from the start task; connections as arrows
function graph(tasks, conns, start) {
  const ids = Object.keys(tasks), level = {};
  const queue = start && tasks[start] ? [start] : ids.slice(0, 1);
  queue.forEach((id) => { level[id] = 0; });
  while (queue.length) {
    const id = queue.shift();
    for (const c of Object.values(conns)) if (c.source === id && level[c.target] === undefined) {
      level[c.target] = level[id] + 1; queue.push(c.target);
    }
  }
  for (const id of ids) if (level[id] === undefined) level[id] = 0;
  const rows = {}, pos = {};
  for (const id of ids) { const l = level[id]; rows[l] = (rows[l] || 0) + 1; pos[id] = [20 + l * 190, 20 + (rows[l] - 1) * 60]; }
  const width = 40 + (Math.max(0, ...Object.values(level)) + 1) * 190, height = 40 + Math.max(1, ...Object.values(rows)) * 60;
  const el = svg("svg", {id: "flow-graph", width, height, viewBox: `0 0 ${width} ${height}`});
  const defs = svg("defs", {});
  const marker = svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto"});
  marker.append(svg("path", {d: "M0,0 L10,5 L0,10 z", fill: "#6b7280"}));
  defs.append(marker); el.append(defs);
  for (const c of Object.values(conns)) {
    if (!pos[c.source] || !pos[c.target]) continue;
    const [x1, y1] = pos[c.source], [x2, y2] = pos[c.target];
    const failed = c.config && c.config.condition && c.config.condition.type === "error";
    el.append(svg("line", {x1: x1 + 150, y1: y1 + 18, x2, y2: y2 + 18, stroke: failed ? "#c0392b" : "#6b7280", "marker-end": "url(#arrow)"}));
  }
  for (const id of ids) {
    const [x, y] = pos[id];
    const g = svg("g", {class: "graph-task", "data-task": id});
    g.append(svg("rect", {x, y, width: 150, height: 36, rx: 6, fill: id === start ? "#e8efff" : "#fff", stroke: "#2f6fed"}),
      svg("text", {x: x + 8, y: y + 22, "font-size": 12}, `${id} · ${tasks[id].type}`));
    el.append(g);
  }
  return el;
}

export async function flowsView(main, [current]) {
  const flows = await get("/api/flows");
  const names = Object.keys(flows);
  const name = current && flows[current] ? current : names[0];
  const side = h("aside", {id: "flow-list"}, h("h3", {}, t("flows")),
    ...names.map((n) => h("a", {href: `#/flows/${encodeURIComponent(n)}`, class: n === name ? "on" : "", "data-flow": n}, n)));
  const body = h("div", {class: "content"});
  main.append(h("div", {class: "split"}, side, body));
  if (!name) return null;
  const def = await get(`/api/flows/flow/${encodeURIComponent(name)}`);
  const flow = def.flow || def;
  const tasks = flow.tasks || {};
  const conns = flow.connections || {};
  const result = h("div", {id: "run-result"});
  const input = h("textarea", {id: "run-input", rows: 3}, "{}");
  const runsBox = h("div", {id: "runs"});
  const runDetail = h("div", {id: "run-detail"});

  async function loadRuns() {
    const runs = (await get("/api/flows/runs", {flow: name, limit: 20})).data || [];
    clear(runsBox).append(h("table", {}, h("tr", {}, h("th", {}, "id"), h("th", {}, t("trigger")), h("th", {}, t("status")), h("th", {}, "ms")),
      ...runs.map((r) => h("tr", {"data-run": r.id, class: "clickable", onclick: async () => {
        const full = (await get(`/api/flows/runs/${r.id}`)).data;
        clear(runDetail).append(h("h3", {}, r.id),
          ...(full.tasks || []).map((x) => h("div", {class: "task-log", "data-task": x.task},
            h("strong", {}, `${x.task}: ${x.status}`), x.error ? pre(x.error, {class: "error"}) : pre(x.output ?? null))));
      }}, h("td", {}, r.id.slice(0, 8)), h("td", {}, r.trigger), h("td", {class: `status-${r.status}`}, r.status),
        h("td", {}, String(Math.round(r.duration_ms || 0)))))));
  }

  const run = async () => {
    let data;
    try { data = JSON.parse(input.value || "{}"); } catch { clear(result).append(h("p", {class: "error"}, t("badJson"))); return; }
    try {
      const r = await call("POST", `/api/flows/flow/${encodeURIComponent(name)}/run`, data);
      clear(result).append(h("p", {class: r.success ? "ok" : "error", id: "run-status"}, r.success ? "success" : "failed"),
        pre(r.response ?? r.errors ?? null, {id: "run-response"}));
    } catch (e) { clear(result).append(h("p", {class: "error"}, errorOf(e))); }
    await loadRuns();
  };

  body.append(h("h2", {}, name), h("p", {class: "muted"}, `${t("trigger")}: ${(flow.trigger && flow.trigger.type) || ""}`),
    section(t("graph"), graph(tasks, conns, flow.start_task)),
    h("div", {class: "cols"},
      section(t("tasks"), h("ul", {id: "flow-tasks"}, ...Object.entries(tasks).map(([id, x]) =>
        h("li", {"data-task": id}, h("strong", {}, id), ` (${x.type})`, id === flow.start_task ? " ▶" : "")))),
      section(t("connections"), h("ul", {id: "flow-connections"}, ...Object.values(conns).map((c) =>
        h("li", {}, `${c.source} → ${c.target}`, c.config && c.config.condition ? ` [${c.config.condition.type}]` : ""))))),
    section(t("run"), h("label", {}, t("input"), input), h("button", {id: "run-flow", class: "primary", onclick: run}, t("run")), result),
    section(t("runs"), runsBox, runDetail));
  await loadRuns();
  return null;
}
