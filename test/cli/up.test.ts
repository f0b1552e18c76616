/**
 * The newcomer's path: `gantry up` on a fresh data directory generates and saves an admin token,
 * `gantry submit --wait` finds it with no configuration, a second `gantry up` on the same directory
 * is refused, and SIGTERM stops the server cleanly.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GANTRY_BIN, runGantry } from "../helpers/run-gantry.ts";

const run = (args: string[], env: Record<string, string>) => runGantry(args, env, 120_000);

test(
  "gantry up → submit --wait with the saved token → second up refused → SIGTERM",
  { timeout: 120_000 },
  async () => {
    const home = await mkdtemp(join(tmpdir(), "gantry-up-"));
    await chmod(home, 0o755);
    const env = {
      HOME: home,
      GANTRY_DATA_DIR: join(home, ".gantry"),
      GANTRY_WORK_DIR: join(home, "sandboxes"),
      GANTRY_LOG_LEVEL: "warn",
    };
    const server = spawn(GANTRY_BIN, ["up", "--port", "0"], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    server.stdout.on("data", (d: Buffer) => (out += d.toString()));
    server.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => server.on("close", resolve));
    try {
      for (let i = 0; i < 600 && !/Gantry is up at/.test(out); i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /Gantry is up at http:\/\/127\.0\.0\.1:\d+ \(store: pglite/);
      const token = /\n {2}(gty_[A-Za-z0-9_-]+)\n/.exec(out)?.[1];
      assert.ok(token !== undefined, `no admin token printed:\n${out}`);
      const credentialsPath = join(home, ".gantry", "credentials.json");
      const saved = JSON.parse(await readFile(credentialsPath, "utf8")) as { token: string; url: string };
      assert.equal(saved.token, token);
      assert.equal((await stat(credentialsPath)).mode & 0o777, 0o600);

      const submitted = await run(["submit", "--wait", "--", "sh", "-c", "echo hello"], env);
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.equal(submitted.stdout, "hello\n");

      const second = await run(["up", "--port", "0"], env);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /in use by another Gantry \(pid \d+\)/);
    } finally {
      server.kill("SIGTERM");
    }
    assert.equal(await exited, 0, out);
    assert.match(out, /Stopping Gantry/);

    // A restart on the same directory prints no new token and keeps working.
    const again = await run(["runs", "--json"], env);
    assert.equal(again.code, 1, "server is down");
    assert.match(again.stderr, /cannot reach Gantry/);
    await rm(home, { recursive: true, force: true });
  },
);
