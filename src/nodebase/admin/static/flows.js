// Flows: list, a flow's tasks and connections, run with input, runs with each task's output.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section} from "./dom.js";

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
