/**
 * Crash safety: `kill -9` the Gantry process at random moments while 200 runs are submitted and
 * dispatched, restart it each time, and check that every accepted run reaches a terminal state, none
 * is lost, and none executes twice at the same time (no sandbox outlives its server, and attempts
 * of one run follow each other in its event history).
 */

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GantryUpProcess, freePort } from "../helpers/gantry-process.ts";
import { createTestDatabase, testBackends } from "../helpers/test-databases.ts";

const ADMIN = "gty_crash_test_admin_token_0123456789";
const RUNS = 200;
const TERMINAL = ["succeeded", "failed", "timed_out", "cancelled"];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Processes whose command line mentions `needle` and that do not descend from `ancestor`. */
function strayProcessesMentioning(needle: string, ancestor: number | undefined): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" });
  const parent = new Map<number, number>();
  const lines = out.split("\n").map((line) => line.trim().split(/\s+/, 3));
  for (const [pid, ppid] of lines) parent.set(Number(pid), Number(ppid));
  const descends = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++)
      if (p === ancestor) return true;
    return false;
  };
  return out
    .split("\n")
    .filter((line) => line.includes(needle) && !line.includes(" ps -eo"))
    .filter((line) => !descends(Number(line.trim().split(/\s+/)[0])));
}

/** Pids whose environment holds `entry` — the workloads of one Gantry (GANTRY_API_URL=…). */
function processesWithEnv(entry: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, "latin1").split("\0").includes(entry))
        pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** `gantry up` as a child process that the test can kill and restart. */
class GantryProcess extends GantryUpProcess {
  async waitUntilHealthy(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.ready()) return;
      await sleep(100);
    }
    assert.fail(`gantry did not become ready:\n${this.log}`);
  }
}

for (const backend of testBackends()) {
  describe(`crash safety (${backend})`, () => {
    test(
      `kill -9 during ${RUNS} submissions loses no run and runs none twice at once`,
      { timeout: 400_000 },
      async () => {
        const database = await createTestDatabase(backend);
        const dataDir = await mkdtemp(join(tmpdir(), "gantry-crash-"));
        // mkdtemp makes 0700 directories; the sandbox uids must be able to reach their work dirs.
        await chmod(dataDir, 0o755);
        const workDir = join(dataDir, "sandboxes");
        const port = await freePort();
        const gantry = new GantryProcess(
          {
            ...process.env,
            GANTRY_PORT: String(port),
            GANTRY_DATA_DIR: database.dataDir ?? dataDir,
            GANTRY_WORK_DIR: workDir,
            GANTRY_ADMIN_TOKEN: ADMIN,
            GANTRY_MAX_ACTIVE_RUNS: "8",
            GANTRY_LOG_LEVEL: "warn",
            DATABASE_URL: database.databaseUrl ?? "",
          },
          `http://127.0.0.1:${port}`,
        );
        const call = async (
          method: string,
          path: string,
          body?: unknown,
        ): Promise<{ status: number; body: unknown }> => gantry.request(ADMIN, method, path, body);

        const accepted: string[] = [];
        let kills = 0;
        let stopped = false;
        try {
          gantry.start();
          await gantry.waitUntilHealthy();
          const submitter = (async () => {
            while (accepted.length < RUNS && !stopped) {
              const batch = Math.min(10, RUNS - accepted.length);
              const results = await Promise.allSettled(
                Array.from({ length: batch }, (_, i) =>
                  call("POST", "/v1/runs", {
                    command: ["sh", "-c", `echo run ${accepted.length + i}; sleep 0.05`],
                  }),
                ),
              );
              for (const r of results) {
                if (r.status === "fulfilled" && r.value.status === 201)
                  accepted.push((r.value.body as { id: string }).id);
              }
              if (results.some((r) => r.status === "rejected")) await sleep(100);
            }
          })();

          // Kill at random moments while submitting and dispatching, and at least four times.
          while (accepted.length < RUNS || kills < 4) {
            await sleep(200 + Math.random() * 1300);
            await gantry.kill();
            kills++;
            // die-with-parent: no workload of the killed server may go on running. (A sandbox
            // killed in its first milliseconds can leave bubblewrap's init blocked before it runs
            // anything; the next start removes those — checked below.)
            let survivors: number[] = [];
            for (let i = 0; i < 40; i++) {
              survivors = processesWithEnv(`GANTRY_API_URL=${gantry.url}`);
              if (survivors.length === 0) break;
              await sleep(50);
            }
            assert.deepEqual(survivors, [], "workloads outlived their killed server");
            gantry.start();
            await gantry.waitUntilHealthy();
            assert.deepEqual(
              strayProcessesMentioning(workDir, gantry.pid),
              [],
              "a restarted Gantry left stale sandboxes running",
            );
            assert.ok(kills < 60, "submissions made no progress across 60 restarts");
          }
          await submitter;
          assert.equal(accepted.length, RUNS);

          // Every accepted run reaches a terminal state.
          const pending = new Set(accepted);
          const deadline = Date.now() + 180_000;
          while (pending.size > 0) {
            assert.ok(Date.now() < deadline, `runs never finished, e.g. ${[...pending][0]}\n${gantry.log}`);
            for (const id of [...pending]) {
              const state = ((await call("GET", `/v1/runs/${id}`)).body as { state: string }).state;
              if (TERMINAL.includes(state)) pending.delete(id);
            }
            if (pending.size > 0) await sleep(250);
          }

          // None lost, all succeeded, and each run's attempts never overlap.
          let relaunched = 0;
          for (const id of accepted) {
            const run = (await call("GET", `/v1/runs/${id}`)).body as { state: string };
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
                  live ?? e.attempt,
                  e.attempt,
                  `${id}: re-queue of attempt ${e.attempt} while ${live} was live`,
                );
                live = null;
                relaunched++;
              }
            }
            assert.equal(events.at(-1)?.to, "succeeded");
          }
          console.log(
            `crash test (${backend}): ${kills} kills, ${relaunched} attempts re-launched, ${RUNS} runs succeeded`,
          );
        } finally {
          stopped = true;
          await gantry.kill();
          await database.drop();
          await rm(dataDir, { recursive: true, force: true });
        }
      },
    );
  });
}
