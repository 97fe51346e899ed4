// A low-overhead bench client (Node 20) for bench/fanout.py (room fan-out over WebSocket) and
// bench/realtime_feed.py (entity feed over SSE): one process holds `n` subscribers and speaks
// the same dialect to every server, so the client cost is the same for each peer.
//
//   node bench/rt_client.js '<json config>'     (NODE_PATH=bench/.work/rt-node/node_modules)
//
// Config: {kind: "json-ws" | "sio" | "nodebase-sse" | "pocketbase-sse", n, expected, timeout_s,
//          out (a file for the results), ...the kind's fields below}.
// Protocol with the parent: prints "ready\n" once every subscriber is live, then receives until
// each got `expected` deliveries (or timeout_s), writes {count, latencies, last, closed,
// cpu_s} to `out` and exits. WebSocket latencies are ns on CLOCK_MONOTONIC (process.hrtime,
// the clock of Python's time.perf_counter_ns()) from the payload's "t"; SSE latencies are ms of
// wall clock from the row's body (the writer's time.time()). cpu_s: this process's user+system
// CPU from "ready" to the end.
"use strict";
const fs = require("fs");
const http = require("http");

const cfg = JSON.parse(process.argv[2]);
const latencies = [];
let count = 0, last = 0, closed = 0, cpu0 = null, finished = 0;
const monoNs = () => Number(process.hrtime.bigint());
const wallMs = () => performance.timeOrigin + performance.now();

// The payload's "t" read straight from the frame's bytes (the payload is {"t": <int>, ...}, as
// itself or JSON-escaped inside a string): no JSON.parse of the whole frame per delivery.
const T_KEYS = [Buffer.from('{"t":'), Buffer.from('{\\"t\\":')];

function stamp(buf) {
  for (const key of T_KEYS) {
    let i = buf.indexOf(key);
    if (i < 0) continue;
    i += key.length;
    while (buf[i] === 32) i++;
    let t = 0;
    for (let c = buf[i]; c >= 48 && c <= 57; c = buf[++i]) t = t * 10 + (c - 48);
    return t;
  }
  return null;
}

function walk(obj, path) {
  let v = obj;
  for (const k of path) v = v[k];
  return typeof v === "string" ? JSON.parse(v) : v;
}

function done() {
  if (++finished === cfg.n) finish();
}

function finish() {
  const c = process.cpuUsage(cpu0 || undefined);
  fs.writeFileSync(cfg.out, JSON.stringify({ count, latencies, last, closed: closed + (cfg.n - finished),
                                              cpu_s: (c.user + c.system) / 1e6 }));
  process.exit(0);
}

function ready() {
  cpu0 = process.cpuUsage();
  process.stdout.write("ready\n");
  setTimeout(finish, cfg.timeout_s * 1000);
}

// -- WebSocket: nodebase-style JSON frames, or Engine.IO 4 / Socket.IO 5 frames ---------------
function openWs() {
  const WebSocket = require("ws");
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cfg.url, { perMessageDeflate: false, skipUTF8Validation: true });
    const prefix = Buffer.from(cfg.kind === "json-ws" ? cfg.prefix : '42["msg"');
    const isDelivery = (buf) => buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
    let state = "open", got = 0;
    ws.on("error", reject);
    ws.on("close", () => { if (state === "live") { closed++; done(); } });
    ws.on("message", (buf, binary) => {
      if (binary) return;
      if (state === "live") {
        if (!isDelivery(buf)) {
          if (buf.length === 1 && buf[0] === 50) ws.send("3");  // Engine.IO ping "2"
          return;
        }
        let t = stamp(buf);
        if (t === null) {  // not the expected shape: parse it all
          const s = buf.toString();
          const doc = cfg.kind === "json-ws" ? JSON.parse(s) : JSON.parse(s.slice(2))[1];
          t = walk(doc, cfg.payload).t;
        }
        latencies.push(monoNs() - t);
        last = monoNs() / 1e9;
        count++;
        if (++got === cfg.expected) { state = "done"; done(); }
        return;
      }
      const s = buf.toString();
      if (cfg.kind === "json-ws") {  // "open" → join sent on open; wait for its answer
        if (s.includes(cfg.joined)) { state = "live"; resolve(ws); }
      } else if (state === "open" && s.startsWith("0")) {
        state = "connect"; ws.send("40");
      } else if (state === "connect" && s.startsWith("40")) {
        state = "join"; ws.send("421" + JSON.stringify(["join", cfg.room]));
      } else if (state === "join" && s.startsWith("431")) {
        state = "live"; resolve(ws);
      } else if (s === "2") {
        ws.send("3");
      }
    });
    if (cfg.kind === "json-ws") ws.on("open", () => ws.send(cfg.join));
  });
}

// -- SSE: nodebase's /api/realtime/sse, PocketBase's /api/realtime + its subscription POST ----
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function openSse() {
  return new Promise((resolve, reject) => {
    const req = http.get(cfg.url, { agent }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE ${cfg.url}: HTTP ${res.statusCode}`));
      res.setEncoding("utf8");
      let buf = "", live = false, got = 0;
      res.on("data", (chunk) => {
        buf = buf ? buf + chunk : chunk;
        let start = 0, i;
        for (; (i = buf.indexOf("\n", start)) >= 0; start = i + 1) {
          if (live && (got >= cfg.expected || !buf.startsWith("data:", start))) continue;
          const line = buf.slice(start, i);
          if (!live) {
            if (cfg.kind === "nodebase-sse" && line.startsWith("event: subscribed")) {
              live = true; resolve();
            } else if (cfg.kind === "pocketbase-sse" && line.startsWith("data:")) {
              live = true;
              subscribePb(JSON.parse(line.slice(5)).clientId).then(resolve, reject);
            }
            continue;
          }
          const sent = sentAt(line);
          if (sent === null) continue;
          const now = wallMs();
          latencies.push(now - sent * 1000);
          last = now / 1000;
          count++;
          if (++got === cfg.expected) done();
        }
        buf = start < buf.length ? buf.slice(start) : "";
      });
      res.on("end", () => { if (live && got < cfg.expected) { closed++; done(); } });
    });
    req.on("error", reject);
  });
}

// The row's body (the writer's time.time()) read from the record line without JSON.parse of the
// whole line: a created row is `"event":"created"` (nodebase) / `"action":"create"` (PocketBase).
const CREATED = { "nodebase-sse": '"event":"created"', "pocketbase-sse": '"action":"create"' };
const BODY = '"body":"';

function sentAt(line) {
  if (line.indexOf(CREATED[cfg.kind]) < 0) return null;
  const i = line.indexOf(BODY);
  if (i < 0) {  // not the expected shape: parse it all
    const doc = JSON.parse(line.slice(5));
    const row = cfg.kind === "nodebase-sse" ? doc.data : doc.record;
    return row ? Number(row.body) : null;
  }
  return Number(line.slice(i + BODY.length, line.indexOf('"', i + BODY.length)));
}

function subscribePb(clientId) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ clientId, subscriptions: cfg.subscriptions });
    const req = http.request(cfg.subscribe_url, {
      method: "POST", agent,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body),
                 Authorization: cfg.auth },
    }, (res) => {
      res.resume();
      res.on("end", () => res.statusCode === 204 ? resolve() : reject(new Error(`subscribe: HTTP ${res.statusCode}`)));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function main() {
  const open = cfg.kind.endsWith("-sse") ? openSse : openWs;
  for (let i = 0; i < cfg.n; i++) await open();
  ready();
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(2); });
