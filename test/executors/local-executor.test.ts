/**
 * The local executor against real programs in a real bubblewrap sandbox. Needs root (per-attempt
 * uids) and bubblewrap; where bubblewrap does not work here, the sandbox tests are skipped with the
 * reason (the unsandboxed fallback has its own test).
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isGantryError } from "../../src/core/errors.ts";
import type { JobSpec, Limits } from "../../src/core/workload.ts";
import type { AttemptUpdate, ExecutorLogLine, ExecutorSink } from "../../src/executors/executor.ts";
import { LocalExecutor } from "../../src/executors/local/index.ts";
import { pidsByUid } from "../../src/executors/local/procs.ts";

/** Records everything the executor reports; lets a test wait for an attempt's final update. */
class RecordingSink implements ExecutorSink {
  readonly updates: AttemptUpdate[] = [];
  readonly lines: ExecutorLogLine[] = [];
  private waiters: { key: string; resolve: (u: AttemptUpdate) => void }[] = [];

  async update(u: AttemptUpdate): Promise<void> {
    this.updates.push(u);
    if (u.state !== "running" && u.state !== "pending") {
      const key = `${u.runId}/${u.attempt}`;
      for (const w of this.waiters.filter((w) => w.key === key)) w.resolve(u);
      this.waiters = this.waiters.filter((w) => w.key !== key);
    }
  }

  log(line: ExecutorLogLine): void {
    this.lines.push(line);
  }

  final(runId: string, attempt = 1): Promise<AttemptUpdate> {
    const found = this.updates.find(
      (u) => u.runId === runId && u.attempt === attempt && u.state !== "running",
    );
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ key: `${runId}/${attempt}`, resolve }));
  }

  updatesOf(runId: string): AttemptUpdate[] {
    return this.updates.filter((u) => u.runId === runId);
  }

  text(runId: string, stream: "stdout" | "stderr" | "system" = "stdout"): string[] {
    return this.lines.filter((l) => l.runId === runId && l.stream === stream).map((l) => l.text);
  }
}

const UID_FIRST = 62000;
const UID_LAST = 62049;
const LIMITS: Limits = { cpuSeconds: 5, wallSeconds: 10, memoryMB: 256, processes: 32, outputBytes: 1 << 20 };

let runCounter = 0;
function spec(
  command: string[],
  overrides: Omit<Partial<JobSpec>, "limits"> & { limits?: Partial<Limits> } = {},
): JobSpec {
  return {
    command,
    env: overrides.env ?? {},
    files: overrides.files ?? [],
    limits: { ...LIMITS, ...overrides.limits },
  };
}

function request(s: JobSpec, runId = `run-${++runCounter}`, attempt = 1) {
  return {
    runId,
    attempt,
    owner: "alice",
    spec: s,
    runToken: "secret-token",
    apiUrl: "http://127.0.0.1:8080",
  };
}

async function strayProcesses(): Promise<number> {
  const uids = new Set<number>();
  for (let u = UID_FIRST; u <= UID_LAST; u++) uids.add(u);
  let n = 0;
  for (const pids of (await pidsByUid(uids)).values()) n += pids.length;
  return n;
}

const isRoot = process.getuid?.() === 0;
let bwrapWorks = false;
try {
  execFileSync("bwrap", ["--ro-bind", "/", "/", "--unshare-all", "--", "true"], { stdio: "ignore" });
  bwrapWorks = true;
} catch {
  bwrapWorks = false;
}
const skip = !isRoot ? "needs root" : !bwrapWorks ? "bubblewrap does not work here" : false;

describe("LocalExecutor in a bubblewrap sandbox", { skip }, () => {
  const sink = new RecordingSink();
  let workRoot: string;
  let ex: LocalExecutor;

  /** Launches and waits for the final update. */
  async function runToEnd(
    s: JobSpec,
    runId?: string,
  ): Promise<{ runId: string; final: AttemptUpdate; ms: number }> {
    const req = request(s, runId);
    const t0 = performance.now();
    await ex.launch(req);
    const final = await sink.final(req.runId);
    return { runId: req.runId, final, ms: performance.now() - t0 };
  }

  before(async () => {
    workRoot = mkdtempSync(path.join(tmpdir(), "gantry-local-test-"));
    ex = new LocalExecutor({
      workRoot,
      sink,
      maxConcurrent: 8,
      uidRange: { first: UID_FIRST, last: UID_LAST },
    });
    await ex.start();
    assert.equal(ex.isSandboxed, true);
  });

  after(async () => {
    await ex.shutdown();
    assert.equal(await strayProcesses(), 0, "no process of a sandbox uid is left");
    const left = readdirSync(workRoot).filter((e) => !e.startsWith("."));
    assert.deepEqual(left, [], "every work directory was removed");
    rmSync(workRoot, { recursive: true, force: true });
  });

  test("echo hello succeeds, reports running then succeeded, and logs the line", async () => {
    const { runId, final } = await runToEnd(spec(["sh", "-c", "echo hello"]));
    assert.deepEqual(sink.updatesOf(runId), [
      { runId, attempt: 1, state: "running", reason: "started" },
      { runId, attempt: 1, state: "succeeded", reason: "exit_code 0", exitCode: 0 },
    ]);
    assert.equal(final.state, "succeeded");
    assert.deepEqual(sink.text(runId), ["hello"]);
    const line = sink.lines.find((l) => l.runId === runId && l.stream === "stdout");
    assert.ok(line && line.at instanceof Date && Math.abs(line.at.getTime() - Date.now()) < 60_000);
  });

  test("a non-zero exit is failed with exit_code N; stderr is captured separately", async () => {
    const { runId, final } = await runToEnd(spec(["sh", "-c", "echo oops >&2; exit 3"]));
    assert.deepEqual(final, { runId, attempt: 1, state: "failed", reason: "exit_code 3", exitCode: 3 });
    assert.deepEqual(sink.text(runId, "stderr"), ["oops"]);
    assert.deepEqual(sink.text(runId, "stdout"), []);
  });

  test("death by a signal is failed with signal SIGNAME", async () => {
    const { final } = await runToEnd(spec(["sh", "-c", "kill -SEGV $$"]));
    assert.equal(final.state, "failed");
    assert.equal(final.reason, "signal SIGSEGV");
    const term = await runToEnd(spec(["sh", "-c", "kill -TERM $$"]));
    assert.equal(term.final.reason, "signal SIGTERM");
  });

  test("wall time: a sleep past the limit is killed and timed_out", async () => {
    const { runId, final, ms } = await runToEnd(spec(["sleep", "30"], { limits: { wallSeconds: 1 } }));
    assert.equal(final.state, "timed_out");
    assert.equal(final.reason, "wall_time_limit");
    assert.ok(ms < 5000, `ended after ${ms} ms`);
    assert.ok(sink.text(runId, "system").some((t) => t.includes("wall time limit")));
  });

  test("env is passed and cleared, input files are written into /work", async () => {
    process.env.GANTRY_TEST_HOST_SECRET = "host-only";
    const { runId, final } = await runToEnd(
      spec(
        [
          "sh",
          "-c",
          'echo "$GREETING $HOME $GANTRY_RUN_TOKEN ${GANTRY_TEST_HOST_SECRET:-unset}"; cat data/in.txt; ./run.sh; pwd',
        ],
        {
          env: { GREETING: "hi there" },
          files: [
            { path: "data/in.txt", content: "from a file\n" },
            {
              path: "run.sh",
              content: Buffer.from("#!/bin/sh\necho script ran\n").toString("base64"),
              encoding: "base64",
              executable: true,
            },
          ],
        },
      ),
    );
    delete process.env.GANTRY_TEST_HOST_SECRET;
    assert.equal(final.state, "succeeded", JSON.stringify(sink.lines.filter((l) => l.runId === runId)));
    assert.deepEqual(sink.text(runId), [
      "hi there /work secret-token unset",
      "from a file",
      "script ran",
      "/work",
    ]);
  });

  test("a missing command fails clearly", async () => {
    const { runId, final } = await runToEnd(spec(["no-such-command-xyz"]));
    assert.equal(final.state, "failed");
    assert.ok(sink.text(runId, "stderr").some((t) => t.includes("no-such-command-xyz")));
  });

  test("launch is idempotent per (runId, attempt)", async () => {
    const req = request(spec(["sh", "-c", "sleep 0.3; echo once"]));
    await Promise.all([ex.launch(req), ex.launch(req)]);
    await ex.launch(req);
    assert.ok((await ex.activeAttempts()).has(`${req.runId}/1`));
    await sink.final(req.runId);
    await ex.launch(req); // already ended: still nothing
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(sink.text(req.runId), ["once"]);
    assert.equal(sink.updatesOf(req.runId).filter((u) => u.state === "running").length, 1);
    assert.equal(sink.updatesOf(req.runId).filter((u) => u.state !== "running").length, 1);
    assert.equal((await ex.activeAttempts()).has(`${req.runId}/1`), false);
  });
});

describe("LocalExecutor without bubblewrap", { skip: !isRoot ? "needs root" : false }, () => {
  let workRoot: string;
  before(() => {
    workRoot = mkdtempSync(path.join(tmpdir(), "gantry-local-nobwrap-"));
  });
  after(() => rmSync(workRoot, { recursive: true, force: true }));
  const missing = "/nonexistent/bwrap";

  test("start() refuses with GANTRY_ERR_SANDBOX_UNAVAILABLE and says how to fix it", async () => {
    const ex = new LocalExecutor({
      workRoot,
      sink: new RecordingSink(),
      bwrapPath: missing,
      uidRange: { first: 62050, last: 62059 },
    });
    await assert.rejects(ex.start(), (err: unknown) => {
      assert.ok(isGantryError(err));
      assert.equal(err.code, "GANTRY_ERR_SANDBOX_UNAVAILABLE");
      assert.match(err.message, /bubblewrap \(bwrap\) is not installed/);
      assert.match(err.message, /apt-get install bubblewrap/);
      assert.match(err.message, /allowUnsandboxed/);
      return true;
    });
    await ex.shutdown();
    await assert.rejects(
      ex.launch(request(spec(["true"]))),
      (err: unknown) => isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR",
    );
  });

  test("with allowUnsandboxed it warns loudly and still enforces rlimits, wall time and a private uid", async () => {
    const warnings: string[] = [];
    const sink = new RecordingSink();
    const ex = new LocalExecutor({
      workRoot,
      sink,
      bwrapPath: missing,
      allowUnsandboxed: true,
      uidRange: { first: 62050, last: 62059 },
      logger: { info() {}, error() {}, warn: (_o, msg) => warnings.push(msg ?? "") },
    });
    await ex.start();
    try {
      assert.equal(ex.isSandboxed, false);
      assert.ok(warnings.some((w) => w.includes("WITHOUT isolation")));
      const a = request(spec(["sh", "-c", "echo hello; id -u; exit 4"]));
      await ex.launch(a);
      assert.deepEqual(await sink.final(a.runId), {
        runId: a.runId,
        attempt: 1,
        state: "failed",
        reason: "exit_code 4",
        exitCode: 4,
      });
      const [hello, uid] = sink.text(a.runId);
      assert.equal(hello, "hello");
      assert.ok(Number(uid) >= 62050 && Number(uid) <= 62059, `ran as uid ${uid}`);
      const b = request(spec(["sh", "-c", "sleep 30 & sleep 30"], { limits: { wallSeconds: 1 } }));
      await ex.launch(b);
      assert.equal((await sink.final(b.runId)).reason, "wall_time_limit");
      const c = request(
        spec(["sh", "-c", "while :; do :; done"], { limits: { cpuSeconds: 1, wallSeconds: 20 } }),
      );
      await ex.launch(c);
      assert.equal((await sink.final(c.runId)).reason, "cpu_time_limit");
    } finally {
      await ex.shutdown();
    }
    const uids = new Set<number>();
    for (let u = 62050; u <= 62059; u++) uids.add(u);
    assert.equal((await pidsByUid(uids)).size, 0, "no process of the fallback uids is left");
  });
});
