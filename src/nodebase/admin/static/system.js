// System: health, version, config (the server masks secrets), the API documentation, metrics
// from /metrics (sampled every 2 s, drawn as small hand-written SVG charts) and the recent log
// lines of the process that answered (GET /api/system/logs).
import {get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, pre, errorOf, section, select} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const EVERY = 2000;   // ms between samples
const KEEP = 60;      // samples on a chart (2 minutes)

// Prometheus text format → [{name, labels, value}]
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({name: m[1], labels, value: Number(m[3])});
  }
  return out;
}

function totals(samples) {
  const sum = (name) => samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
  return {requests: sum("nodebase_http_requests_total"), errors: sum("nodebase_http_errors_total"),
    latencySum: sum("nodebase_http_request_duration_seconds_sum"), latencyCount: sum("nodebase_http_request_duration_seconds_count"),
    connections: sum("nodebase_realtime_connections")};
}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

// one small line chart: the values, scaled to the largest, with the largest and last written
function chart(key, title, unit) {
  const W = 320, H = 90, P = 4;
  const el = svg("svg", {id: `chart-${key}`, class: "chart", viewBox: `0 0 ${W} ${H + 18}`, width: W, height: H + 18, "data-points": 0, "data-max": 0});
  const now = h("span", {class: "chart-now", id: `now-${key}`}, "—");
  const box = h("div", {class: "chart-box"}, h("div", {}, h("strong", {}, title), " ", now, " ", h("span", {class: "muted"}, unit)), el);
  const draw = (values) => {
    while (el.firstChild) el.firstChild.remove();
    const max = Math.max(0, ...values);
    el.append(svg("line", {x1: P, y1: H, x2: W - P, y2: H, class: "axis"}));
    const step = (W - 2 * P) / (KEEP - 1);
    const y = (v) => H - (max > 0 ? (v / max) * (H - 2 * P) : 0);
    const pts = values.map((v, i) => `${(P + i * step).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    if (values.length) el.append(svg("polyline", {points: pts, class: `series series-${key}`}));
    if (values.length) {  // the newest point, also visible while it is the only one
      const i = values.length - 1;
      el.append(svg("circle", {cx: (P + i * step).toFixed(1), cy: y(values[i]).toFixed(1), r: 2.5, class: `dot series-${key}`}));
    }
    const label = svg("text", {x: P, y: H + 14, class: "chart-label"});
    label.textContent = `max ${fmt(max)}`;
    el.append(label);
    el.setAttribute("data-points", values.length);
    el.setAttribute("data-max", max);
    now.textContent = values.length ? fmt(values[values.length - 1]) : "—";
  };
  return {box, draw};
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(2));

function metricsSection() {
  const err = h("p", {class: "error", id: "metrics-error"});
  const charts = {
    requests: chart("requests", t("requestsPerSecond"), "/s"), latency: chart("latency", t("latency"), "ms"),
    errors: chart("errors", t("errorsPerSecond"), "/s"), connections: chart("connections", t("connectionsNow"), ""),
  };
  const summary = h("p", {id: "metrics-summary", class: "muted"});
  const routes = h("table", {id: "metrics-routes"});
  const series = {requests: [], latency: [], errors: [], connections: []};
  let last = null, timer = null, stopped = false;
  const sample = async () => {
    try {
      const res = await fetch("/metrics", {credentials: "same-origin"});
      if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
      const samples = parseMetrics(await res.text());
      if (stopped) return;
      const now = {...totals(samples), at: performance.now()};
      if (last) {
        const dt = (now.at - last.at) / 1000;
        const dn = now.latencyCount - last.latencyCount;
        const push = (k, v) => { series[k].push(Math.max(0, v)); if (series[k].length > KEEP) series[k].shift(); };
        push("requests", (now.requests - last.requests) / dt);
        push("errors", (now.errors - last.errors) / dt);
        push("latency", dn > 0 ? ((now.latencySum - last.latencySum) / dn) * 1000 : 0);
        push("connections", now.connections);
        for (const [k, c] of Object.entries(charts)) c.draw(series[k]);
      }
      last = now;
      summary.textContent = t("metricsSummary", now.requests, now.errors,
        now.latencyCount ? fmt((now.latencySum / now.latencyCount) * 1000) : "—", now.connections);
      summary.dataset.requests = now.requests;
      // the busiest routes since the start
      const byRoute = {};
      for (const s of samples) {
        const r = s.labels.route;
        if (!r) continue;
        const row = (byRoute[r] = byRoute[r] || {count: 0, sum: 0, n: 0});
        if (s.name === "nodebase_http_requests_total") row.count += s.value;
        if (s.name === "nodebase_http_request_duration_seconds_sum") row.sum += s.value;
        if (s.name === "nodebase_http_request_duration_seconds_count") row.n += s.value;
      }
      clear(routes);
      routes.append(h("tr", {}, h("th", {}, t("route")), h("th", {}, t("requests")), h("th", {}, t("meanLatency"))),
        ...Object.entries(byRoute).sort((a, b) => b[1].count - a[1].count).slice(0, 10).map(([r, x]) =>
          h("tr", {"data-route": r}, h("td", {}, r), h("td", {}, String(x.count)), h("td", {}, x.n ? `${fmt((x.sum / x.n) * 1000)} ms` : "—"))));
      err.textContent = "";
    } catch (e) { err.textContent = e.message || String(e); }
    if (!stopped) timer = setTimeout(sample, EVERY);
  };
  sample();
  const box = section(t("metrics"), err, summary, h("div", {class: "charts"}, ...Object.values(charts).map((c) => c.box)),
    h("strong", {}, t("busiestRoutes")), routes);
  return {box, stop: () => { stopped = true; clearTimeout(timer); }};
}

function logsSection() {
  const level = select({id: "logs-level"}, ["debug", "info", "warning", "error"], "debug");
  const table = h("table", {id: "logs"});
  const err = h("p", {class: "error", id: "logs-error"});
  const load = async () => {
    err.textContent = "";
    try {
      const r = await get("/api/system/logs", {limit: 100, level: level.value});
      clear(table);
      table.append(h("tr", {}, h("th", {}, t("time")), h("th", {}, t("level")), h("th", {}, "logger"), h("th", {}, t("message"))),
        ...(r.data || []).map((line) => {
          const {ts, level: lv, logger, msg, exc, ...rest} = line;
          const detail = logger === "nodebase.request"
            ? `${rest.method} ${rest.route} → ${rest.status} · ${rest.duration_ms} ms${rest.caller ? " · caller " + rest.caller : ""}`
            : [msg, Object.keys(rest).length ? JSON.stringify(rest) : ""].filter(Boolean).join(" ");
          return h("tr", {"data-logger": logger, "data-level": lv, class: `log-${lv}`},
            h("td", {class: "nowrap"}, ts), h("td", {}, lv), h("td", {}, logger),
            h("td", {}, detail, exc ? pre(exc, {class: "exc"}) : null));
        }));
      if (!(r.data || []).length) table.append(h("tr", {}, h("td", {colspan: 4, class: "muted"}, t("noLogs"))));
    } catch (e) { err.textContent = errorOf(e); }
  };
  level.addEventListener("change", load);
  load();
  return section(t("recentLogs"), h("div", {class: "row"}, h("label", {}, t("level"), " ", level),
    h("button", {id: "logs-refresh", onclick: load}, t("refresh"))), err, table);
}

export async function systemView(main) {
  const [health, info, config] = await Promise.all([get("/health"), get("/api/system/info"), get("/api/system/config")]);
  const metrics = metricsSection();
  main.append(h("div", {class: "content"}, h("h2", {}, t("system")),
    h("div", {class: "cols"},
      section(t("health"), h("p", {id: "health", class: health.status === "ok" ? "ok" : "error"}, health.status), pre(health)),
      section(t("version"), h("p", {id: "version"}, `nodebase ${info.version.nodebase} · bknd ${info.version.bknd} · config v${info.version.config}`),
        h("p", {}, h("a", {id: "swagger-link", href: "/api/system/swagger", target: "_blank"}, t("swagger"))))),
    metrics.box, logsSection(),
    section(t("config"), pre(config, {id: "config"}))));
  return metrics.stop;
}
