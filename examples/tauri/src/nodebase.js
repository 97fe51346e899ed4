// Start nodebase as the app's sidecar and talk to it with bknd's client.
//
// In the Tauri app: import { Command } from "@tauri-apps/plugin-shell";
//                   import { appDataDir } from "@tauri-apps/api/path";
//                   import { Api } from "bknd/client";
//                   const node = await startNodebase({ Command, Api, dataDir: await appDataDir() });
// The shell plugin's Command is passed in (not imported here) so the same code runs under
// Node in nodebase's test suite with a Command that spawns the real executable.

/** The sidecar's name as listed in tauri.conf.json's bundle.externalBin. */
export const SIDECAR = "binaries/nodebase-sidecar";

/**
 * Spawn the sidecar, wait for its one JSON line ({port, url, token, pid}) and return a bknd
 * client that sends the launch token. The sidecar exits by itself when the app exits (its
 * watchdog sees the parent go) or when `stop()` closes it.
 */
export async function startNodebase({ Command, Api, dataDir, timeoutMs = 15000 }) {
  const command = Command.sidecar(SIDECAR, ["--data-dir", dataDir]);
  let buffered = "";
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("nodebase did not start in time")), timeoutMs);
    command.stdout.on("data", (chunk) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buffered.slice(0, end)));
      } catch (err) {
        reject(new Error(`nodebase wrote an unexpected first line: ${buffered.slice(0, end)}`));
      }
    });
    command.on("close", ({ code }) => {
      clearTimeout(timer);
      reject(new Error(`nodebase exited with code ${code}` + (code === 75 ? ": its data dir is in use" : "")));
    });
    command.on("error", (err) => reject(new Error(`nodebase could not start: ${err}`)));
  });
  const closed = new Promise((resolve) => command.on("close", resolve));
  const child = await command.spawn();
  const { url, token } = await ready;
  const api = new Api({ host: url, token });
  return {
    url,
    api,
    child,
    // "exit" on stdin: nodebase finishes in-flight requests, closes its database and exits.
    // kill() only if it has not gone within graceMs.
    stop: async (graceMs = 5000) => {
      await child.write("exit\n");
      const timer = new Promise((resolve) => setTimeout(() => resolve("timeout"), graceMs));
      if ((await Promise.race([closed, timer])) === "timeout") await child.kill();
    },
  };
}
