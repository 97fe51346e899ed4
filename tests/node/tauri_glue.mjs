// Run examples/tauri/src/nodebase.js (the code a Tauri app uses) under Node: a stand-in for
// @tauri-apps/plugin-shell's Command that spawns the real sidecar executable the way Tauri
// does (stdin, stdout and stderr piped), and bknd's real client. Env: NB_SIDECAR, NB_DATA_DIR.
// Prints one JSON object.
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { Api } from "bknd/client";
import { SIDECAR, startNodebase } from "../../examples/tauri/src/nodebase.js";

class Command extends EventEmitter {
  static sidecar(name, args) {
    if (name !== SIDECAR) throw new Error(`unknown sidecar ${name}`);
    return new Command(process.env.NB_SIDECAR, args);
  }
  constructor(program, args) {
    super();
    this.program = program;
    this.args = args;
    this.stdout = new EventEmitter();
    this.stderr = new EventEmitter();
  }
  async spawn() {
    const proc = spawn(this.program, this.args, { stdio: ["pipe", "pipe", "pipe"] });
    proc.stdout.setEncoding("utf8").on("data", (d) => this.stdout.emit("data", d));
    proc.stderr.setEncoding("utf8").on("data", (d) => this.stderr.emit("data", d));
    proc.on("error", (e) => this.emit("error", e));
    proc.on("close", (code, signal) => this.emit("close", { code, signal }));
    return {
      pid: proc.pid,
      write: async (data) => void proc.stdin.write(data),
      kill: async () => void proc.kill("SIGKILL"),
      proc,
    };
  }
}

const out = {};
const node = await startNodebase({ Command, Api, dataDir: process.env.NB_DATA_DIR });
out.url = node.url;
const schema = await node.api.system.addConfig("data", "entities.todos", {
  fields: { title: { type: "text", config: { required: true } } },
});
out.addEntity = { ok: schema.ok, status: schema.res.status };
const created = await node.api.data.createOne("todos", { title: "from the app" });
out.created = { ok: created.ok, status: created.res.status, title: created.data?.title };
const list = await node.api.data.readMany("todos", {});
out.list = { ok: list.ok, titles: list.data?.map((r) => r.title), total: list.body?.meta?.total };
const exited = new Promise((resolve) => node.child.proc.on("close", (code, signal) => resolve({ code, signal })));
const t0 = Date.now();
await node.stop();
out.exit = { ...(await exited), ms: Date.now() - t0 };
console.log(JSON.stringify(out));
