/**
 * Crash safety: `kill -9` the Gantry process at random moments while 200 runs are submitted and
 * dispatched, restart it each time, and check that every accepted run reaches a terminal state, none
 * is lost, and none executes twice at the same time (no sandbox outlives its server, and attempts
 * of one run follow each other in its event history).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase, testBackends } from "../helpers/test-databases.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ADMIN = "gty_crash_test_admin_token_0123456789";
const RUNS = 200;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** Processes whose command line mentions `needle` (the sandboxes of one data directory). */
function processesMentioning(needle: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(needle) && !line.includes(" ps -eo"));
}

for (const backend of testBackends()) {
  describe(`crash safety (${backend})`, () => {
    test(
      `kill -9 during ${RUNS} submissions loses no run and runs none twice at once`,
      { timeout: 300_000 },
      async () => {
        const database = await createTestDatabase(backend);
        const dataDir = await mkdtemp(join(tmpdir(), "gantry-crash-"));
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const env = {
          ...process.env,
          GANTRY_PORT: String(port),
          GANTRY_DATA_DIR: database.dataDir ?? dataDir,
          GANTRY_ADMIN_TOKEN: ADMIN,
          GANTRY_MAX_ACTIVE_RUNS: "8",
          GANTRY_LOG_LEVEL: "warn",
          DATABASE_URL: database.databaseUrl ?? "",
        };
        let server: ChildProcess | null = null;
        let serverLog = "";
        const start = (): void => {
          server = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "up"], {
            env,
            cwd: ROOT,
            stdio: ["ignore", "pipe", "pipe"],
          });
          server.stdout?.on("data", (d: Buffer) => (serverLog = (serverLog + d.toString()).slice(-20_000)));
          server.stderr?.on("data", (d: Buffer) => (serverLog = (serverLog + d.toString()).slice(-20_000)));
        };
        const call = async (
          method: string,
          path: string,
          body?: unknown,
        ): Promise<{ status: number; body: unknown }> => {
          const res = await fetch(url + path, {
            method,
            headers: {
              authorization: `Bearer ${ADMIN}`,
              ...(body === undefined ? {} : { "content-type": "application/json" }),
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(10_000),
          });
          return { status: res.status, body: await res.json() };
        };
        const accepted: string[] = [];
        let kills = 0;
        try {
          start();
          let submitting = true;
          const submitter = (async () => {
            let submitted = 0;
            while (submitted < RUNS) {
              const batch = Math.min(10, RUNS - submitted);
              const results = await Promise.allSettled(
                Array.from({ length: batch }, (_, i) =>
                  call("POST", "/v1/runs", {
                    command: ["sh", "-c", `echo run ${submitted + i}; sleep 0.05`],
                  }),
                ),
              );
              for (const r of results) {
                if (r.status === "fulfilled" && r.value.status === 201) {
                  accepted.push((r.value.body as { id: string }).id);
                  submitted++;
                }
              }
              if (results.some((r) => r.status === "rejected")) await new Promise((r) => setTimeout(r, 100));
            }
            submitting = false;
          })();
          // Kill at random moments while submitting and dispatching, then once more with runs live.
          while (submitting || kills < 4) {
            await new Promise((r) => setTimeout(r, 400 + Math.random() * 1200));
            const victim = server as ChildProcess | null;
            if (victim === null || victim.pid === undefined) break;
            const exited = new Promise((r) => victim.once("exit", r));
            victim.kill("SIGKILL");
            await exited;
            kills++;
            // die-with-parent: no sandbox of the killed server may survive it.
            let survivors: string[] = [];
            for (let i = 0; i < 40; i++) {
              survivors = processesMentioning(workDir);
              if (survivors.length === 0) break;
              await new Promise((r) => setTimeout(r, 50));
            }
            assert.deepEqual(survivors, [], "sandboxes outlived their killed server");
            start();
            if (kills > 12) break;
          }
          await submitter;
          assert.equal(accepted.length, RUNS);

          // Every accepted run reaches a terminal state.
          const deadline = Date.now() + 180_000;
          let pending = new Set(accepted);
          while (pending.size > 0) {
            assert.ok(
              Date.now() < deadline,
              `runs never finished: ${[...pending].slice(0, 5).join(", ")}…\n${serverLog}`,
            );
            for (const id of [...pending]) {
              const res = await call("GET", `/v1/runs/${id}`).catch(() => null);
              const state = (res?.body as { state?: string } | undefined)?.state;
              if (state !== undefined && ["succeeded", "failed", "timed_out", "cancelled"].includes(state))
                pending.delete(id);
            }
            if (pending.size > 0) await new Promise((r) => setTimeout(r, 250));
          }
          pending = new Set();

          // None lost, all succeeded, and each run's attempts never overlap.
          let relaunched = 0;
          for (const id of accepted) {
            const run = (await call("GET", `/v1/runs/${id}`)).body as {
              state: string;
              attempt: number;
              reason: string;
            };
            assert.equal(run.state, "succeeded", `${id}: ${JSON.stringify(run)}`);
            const { events } = (await call("GET", `/v1/runs/${id}/events`)).body as {
              events: { attempt: number; from: string | null; to: string }[];
            };
            let live: number | null = null;
            for (const e of events) {
              if (e.to === "dispatching") {
                assert.equal(
                  live,
                  null,
                  `${id}: attempt ${e.attempt} dispatched while attempt ${live} was live`,
                );
                live = e.attempt;
              } else if (e.to === "queued" && e.from !== null) {
                assert.equal(
                  live,
                  e.attempt,
                  `${id}: requeue of attempt ${e.attempt} while ${live} was live`,
                );
                live = null;
                relaunched++;
              }
            }
            assert.equal(events.at(-1)?.to, "succeeded");
          }
          console.log(
            `crash test (${backend}): ${kills} kills, ${relaunched} attempts re-launched, ${RUNS} runs all succeeded`,
          );
          assert.ok(kills >= 4);
        } finally {
          const s = server as ChildProcess | null;
          if (s !== null && s.exitCode === null) {
            const exited = new Promise((r) => s.once("exit", r));
            s.kill("SIGKILL");
            await exited;
          }
          await database.drop();
          await rm(dataDir, { recursive: true, force: true });
        }
      },
    );
  });
}
