/**
 * The local executor against real programs in a real bubblewrap sandbox. Needs root (per-attempt
 * uids) and bubblewrap; where bubblewrap does not work here, the sandbox tests are skipped with the
 * reason (the unsandboxed fallback has its own test).
 */

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isGantryError } from "../../src/core/errors.ts";
import type { JobSpec, Limits } from "../../src/core/workload.ts";
import type { AttemptUpdate, ExecutorLogLine, ExecutorSink } from "../../src/executors/executor.ts";
import { LocalExecutor } from "../../src/executors/local/index.ts";
import { pidsByUid, pidsOfUid } from "../../src/executors/local/procs.ts";
import { UidLocks } from "../../src/executors/local/uid-lock.ts";

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

  let fdsBefore = 0;

  before(async () => {
    fdsBefore = readdirSync("/proc/self/fd").length;
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
    try {
      await ex.shutdown();
      assert.equal(await strayProcesses(), 0, "no process of a sandbox uid is left");
      const left = readdirSync(workRoot).filter((e) => !e.startsWith("."));
      assert.deepEqual(left, [], "every work directory was removed");
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(readdirSync("/proc/self/fd").length, fdsBefore, "no file descriptor leaked");
    } finally {
      rmSync(workRoot, { recursive: true, force: true });
    }
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

  test("fork bomb: contained by the process limit, killed, nothing of it survives", async () => {
    const { runId, final, ms } = await runToEnd(
      spec(["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 20"], {
        limits: { processes: 32, wallSeconds: 15 },
      }),
    );
    assert.equal(final.state, "failed");
    assert.equal(final.reason, "process_limit", JSON.stringify(sink.text(runId, "system")));
    assert.ok(ms < 10_000, `took ${ms} ms`);
    assert.equal(await strayProcesses(), 0);
    // The machine is fine: the next attempt runs normally.
    assert.equal((await runToEnd(spec(["true"]))).final.state, "succeeded");
  });

  test("memory: a 2 GiB allocation fails with memory_limit", async () => {
    const { runId, final, ms } = await runToEnd(
      spec(["python3", "-c", "b = bytearray(2 << 30); print(len(b))"], { limits: { memoryMB: 128 } }),
    );
    assert.equal(final.state, "failed");
    assert.equal(final.reason, "memory_limit", JSON.stringify(sink.lines.filter((l) => l.runId === runId)));
    assert.ok(ms < 10_000, `took ${ms} ms`);
    // Touching the memory page by page is caught too.
    const touched = await runToEnd(
      spec(["python3", "-c", "b = b'x' * (2 << 30)"], { limits: { memoryMB: 128 } }),
    );
    assert.equal(touched.final.reason, "memory_limit");
  });

  test("an infinite loop hits the CPU time limit; a sleeping one the wall time limit", async () => {
    const cpu = await runToEnd(
      spec(["sh", "-c", "while :; do :; done"], { limits: { cpuSeconds: 1, wallSeconds: 20 } }),
    );
    assert.equal(cpu.final.state, "failed");
    assert.equal(cpu.final.reason, "cpu_time_limit");
    assert.ok(cpu.ms < 15_000, `took ${cpu.ms} ms`);
    const wall = await runToEnd(
      spec(["sh", "-c", "while :; do sleep 0.1; done"], { limits: { cpuSeconds: 30, wallSeconds: 1 } }),
    );
    assert.equal(wall.final.state, "timed_out");
    assert.equal(wall.final.reason, "wall_time_limit");
  });

  test("the CPU limit covers the whole tree, not just one process", async () => {
    // Four busy children of 1 s each stay under RLIMIT_CPU (per process, 2 s here) but not under
    // the attempt's total, which the cpuacct cgroup enforces.
    const script =
      "for i in 1 2 3 4; do (end=$(($(date +%s)+6)); while [ $(date +%s) -lt $end ]; do :; done) & done; wait";
    const { final } = await runToEnd(
      spec(["sh", "-c", script], { limits: { cpuSeconds: 2, wallSeconds: 20 } }),
    );
    if (ex.describe()?.cpu.includes("cpuacct")) assert.equal(final.reason, "cpu_time_limit");
    else assert.equal(final.state, "succeeded");
  });

  test("a file larger than the file size limit: file_size_limit", async () => {
    const own = new LocalExecutor({
      workRoot: path.join(workRoot, ".fsize"),
      sink,
      fileSizeBytes: 1 << 20,
      uidRange: { first: 62040, last: 62049 },
    });
    await own.start();
    try {
      const req = request(spec(["sh", "-c", "exec head -c 2000000 /dev/zero > big"]));
      await own.launch(req);
      const final = await sink.final(req.runId);
      assert.equal(final.reason, "file_size_limit");
    } finally {
      await own.shutdown();
    }
  });

  test("writing outside /work fails; /work and /tmp work; the host is untouched", async () => {
    const marker = `gantry-escape-${process.pid}-${Date.now()}`;
    const script = [
      `for d in /etc /usr /usr/local/bin /home /root /var /opt / /proc/sys/kernel /dev; do`,
      `  if (echo x > "$d/${marker}") 2>/dev/null; then echo "WROTE $d"; else echo "refused $d"; fi`,
      `done`,
      `echo ok > /work/out.txt && cat /work/out.txt`,
      `echo ok > /tmp/t.txt && echo tmp-ok`,
      `echo ok > /dev/shm/t.txt && echo shm-ok`,
      `echo x > /dev/null && echo null-ok`,
      `ls /home 2>/dev/null | head -3; ls -d /work/../* | tr '\\n' ' '; echo`,
    ].join("\n");
    const { runId, final } = await runToEnd(spec(["sh", "-c", script]));
    assert.equal(final.state, "succeeded");
    const out = sink.text(runId);
    assert.deepEqual(
      out.filter((l) => l.startsWith("WROTE")),
      [],
    );
    assert.equal(out.filter((l) => l.startsWith("refused")).length, 10, out.join("\n"));
    for (const ok of ["ok", "tmp-ok", "shm-ok", "null-ok"]) assert.ok(out.includes(ok), ok);
    for (const d of ["/etc", "/usr", "/usr/local/bin", "/home", "/root", "/var", "/opt", "/"]) {
      assert.equal(existsSync(path.join(d, marker)), false, `${d}/${marker} must not exist on the host`);
    }
    // Only a minimal system is visible: no /home, no host work root, no other sandboxes.
    const listing = out.find((l) => l.includes("/work"));
    assert.ok(listing !== undefined && !listing.includes("/home") && !listing.includes("/root"), listing);
  });

  test("network: connections fail fast, to loopback (even with a host listener) and to a public IP", async () => {
    let connections = 0;
    const server = net.createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const py = [
        "import socket, time",
        `for host, port in [("127.0.0.1", ${port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:`,
        "    t = time.time()",
        "    try:",
        "        socket.create_connection((host, port), timeout=5).close()",
        "        print('CONNECTED', host)",
        "    except OSError as e:",
        "        print('blocked', host, type(e).__name__, round(time.time() - t, 2))",
      ].join("\n");
      const { runId, final, ms } = await runToEnd(spec(["python3", "-c", py]));
      assert.equal(final.state, "succeeded", JSON.stringify(sink.lines.filter((l) => l.runId === runId)));
      const out = sink.text(runId);
      assert.equal(out.filter((l) => l.startsWith("blocked")).length, 3, out.join("\n"));
      assert.ok(ms < 4000, `took ${ms} ms: connections must fail at once, not time out`);
      assert.equal(connections, 0);
    } finally {
      server.close();
    }
  });

  test("output flooding: yes is killed at the output limit, quickly, and the log keeps at most the limit", async () => {
    const limit = 64 * 1024;
    const { runId, final, ms } = await runToEnd(
      spec(["yes", "flood"], { limits: { outputBytes: limit, wallSeconds: 20 } }),
    );
    assert.equal(final.state, "failed");
    assert.equal(final.reason, "output_limit");
    assert.ok(ms < 5000, `took ${ms} ms`);
    const kept = sink.text(runId).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
    assert.ok(kept <= limit + 1 && kept > limit / 2, `kept ${kept} bytes`);
    assert.ok(sink.text(runId, "system").some((t) => t.includes("output limit")));
  });

  test("hostile input file paths are refused before anything runs", async () => {
    const hostile = [
      "../escape.txt",
      "/etc/gantry-escape",
      "a/../../escape",
      "",
      "a//b",
      "./x",
      "a/./b",
      "dir/..",
      "x\0y",
    ];
    for (const p of hostile) {
      const { runId, final } = await runToEnd(
        spec(["sh", "-c", "echo ran"], { files: [{ path: p, content: "x" }] }),
      );
      assert.equal(final.state, "failed", p);
      assert.match(final.reason, /^invalid_spec: /, p);
      assert.deepEqual(sink.text(runId), [], `${JSON.stringify(p)} must not run`);
      assert.equal(sink.updatesOf(runId).length, 1, "no running update");
    }
    const twice = await runToEnd(
      spec(["true"], {
        files: [
          { path: "a", content: "1" },
          { path: "a", content: "2" },
        ],
      }),
    );
    assert.match(twice.final.reason, /given twice/);
    const under = await runToEnd(
      spec(["true"], {
        files: [
          { path: "a", content: "1" },
          { path: "a/b", content: "2" },
        ],
      }),
    );
    assert.match(under.final.reason, /lies under the file/);
    const badEnv = await runToEnd(spec(["true"], { env: { "A=B": "x" } }));
    assert.match(badEnv.final.reason, /^invalid_spec: environment variable name/);
    assert.equal(existsSync(path.join(path.dirname(workRoot), "escape.txt")), false);
    assert.equal(existsSync(path.join(workRoot, "escape.txt")), false);
  });

  test("concurrent attempts run at once, each with its own uid, work directory and processes", async () => {
    const n = 4;
    const reqs = Array.from({ length: n }, (_, i) =>
      request(
        spec(
          [
            "sh",
            "-c",
            'echo "$SECRET" > secret; sleep 1; cat secret; ls /work | tr "\\n" " "; echo; ps -e -o pid= | wc -l',
          ],
          { env: { SECRET: `secret-${i}` } },
        ),
        `conc-${runCounter}-${i}`,
      ),
    );
    const t0 = performance.now();
    await Promise.all(reqs.map((r) => ex.launch(r)));
    assert.equal((await ex.activeAttempts()).size >= n, true);
    await new Promise((r) => setTimeout(r, 400));
    const range = new Set<number>();
    for (let u = UID_FIRST; u <= UID_LAST; u++) range.add(u);
    const running = await pidsByUid(range);
    assert.equal(
      running.size,
      n,
      `each attempt runs under its own host uid: ${[...running.keys()].join(",")}`,
    );
    const finals = await Promise.all(reqs.map((r) => sink.final(r.runId)));
    const ms = performance.now() - t0;
    assert.ok(ms < 3500, `ran in parallel (${ms} ms for ${n} × 1 s)`);
    finals.forEach((f, i) => {
      assert.equal(f.state, "succeeded");
      const [secret, listing, procCount] = sink.text(reqs[i]!.runId);
      assert.equal(secret, `secret-${i}`);
      assert.equal(listing?.trim(), "secret");
      assert.ok(Number(procCount) <= 5, `sees only its own processes (${procCount})`);
    });
  });

  test("cancel stops the attempt, resolves when it is gone and reports nothing more", async () => {
    const req = request(spec(["sh", "-c", "sleep 30 & sleep 30 & wait"]));
    await ex.launch(req);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await ex.cancel(req.runId, req.attempt);
    const ms = performance.now() - t0;
    assert.ok(ms < 3000, `cancel took ${ms} ms`);
    assert.equal((await ex.activeAttempts()).has(`${req.runId}/1`), false);
    assert.equal(await strayProcesses(), 0, "no process of the attempt is left");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      sink.updatesOf(req.runId).map((u) => u.state),
      ["running"],
    );
    await ex.cancel(req.runId, req.attempt); // unknown now: ignored
    await ex.cancel("no-such-run", 1);
  });

  test("a sink may cancel the attempt from inside update() (the dispatcher does on a refused update)", async () => {
    const cancelling: ExecutorSink = {
      update: async (u) => {
        await sink.update(u);
        if (u.state === "running") await own.cancel(u.runId, u.attempt);
      },
      log: (l) => sink.log(l),
    };
    const own = new LocalExecutor({
      workRoot: path.join(workRoot, ".cancelling"),
      sink: cancelling,
      uidRange: { first: 62040, last: 62049 },
    });
    await own.start();
    try {
      const req = request(spec(["sleep", "30"]));
      const t0 = performance.now();
      await own.launch(req);
      while ((await own.activeAttempts()).size > 0) await new Promise((r) => setTimeout(r, 20));
      assert.ok(performance.now() - t0 < 5000);
      assert.deepEqual(
        sink.updatesOf(req.runId).map((u) => u.state),
        ["running"],
      );
    } finally {
      await own.shutdown();
    }
  });

  test("launch beyond maxConcurrent is refused as busy", async () => {
    const small = new LocalExecutor({
      // A work root of its own: a work root belongs to one executor.
      workRoot: path.join(workRoot, ".small"),
      sink,
      maxConcurrent: 1,
      uidRange: { first: 62040, last: 62049 },
    });
    await small.start();
    try {
      const first = request(spec(["sleep", "5"]));
      await small.launch(first);
      await assert.rejects(small.launch(request(spec(["true"]))), (err: unknown) => {
        return isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR_BUSY";
      });
    } finally {
      await small.shutdown();
    }
  });

  test("shutdown kills every attempt and refuses new ones", async () => {
    const other = new LocalExecutor({
      // A work root of its own: a work root belongs to one executor.
      workRoot: path.join(workRoot, ".other"),
      sink,
      maxConcurrent: 4,
      uidRange: { first: 62040, last: 62049 },
    });
    await other.start();
    const reqs = [1, 2, 3].map(() => request(spec(["sh", "-c", "sleep 60 & sleep 60"])));
    for (const r of reqs) await other.launch(r);
    assert.equal((await other.activeAttempts()).size, 3);
    const t0 = performance.now();
    await other.shutdown();
    assert.ok(performance.now() - t0 < 5000);
    assert.equal((await other.activeAttempts()).size, 0);
    assert.equal(await strayProcesses(), 0);
    for (const r of reqs)
      assert.deepEqual(
        sink.updatesOf(r.runId).map((u) => u.state),
        ["running"],
      );
    await assert.rejects(
      other.launch(request(spec(["true"]))),
      (err: unknown) => isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR",
    );
  });

  test("the run token and env never appear on a host command line", async () => {
    const token = `tok-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const req = { ...request(spec(["sleep", "2"], { env: { USER_SECRET: token } })), runToken: token };
    await ex.launch(req);
    await new Promise((r) => setTimeout(r, 300));
    let seen = 0;
    for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`).includes(token)) seen++;
      } catch {
        // gone
      }
    }
    await ex.cancel(req.runId, 1);
    assert.equal(seen, 0);
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

describe("LocalExecutor when Gantry itself dies", { skip }, () => {
  test("kill -9 of the Gantry process takes every sandbox with it; the next start cleans up", async () => {
    const workRoot = mkdtempSync(path.join(tmpdir(), "gantry-local-crash-"));
    const first = 62060;
    const last = 62069;
    const range = new Set<number>();
    for (let u = first; u <= last; u++) range.add(u);
    try {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(import.meta.dirname, "fixtures/local-executor-child.ts"),
          workRoot,
          String(first),
          String(last),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      await new Promise<void>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("launched")) resolve();
        });
        child.on("exit", (code) => reject(new Error(`child exited ${code} before launching`)));
      });
      const running = await pidsByUid(range);
      assert.equal(running.size, 2, "two sandboxes are running");
      child.kill("SIGKILL");
      let left = -1;
      for (let i = 0; i < 60 && left !== 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        left = [...(await pidsByUid(range)).values()].reduce((n, p) => n + p.length, 0);
      }
      assert.equal(left, 0, "no process of the crashed Gantry's sandboxes is left");
      assert.equal(
        readdirSync(workRoot).filter((e) => !e.startsWith(".")).length,
        2,
        "their work dirs are still there",
      );
      const next = new LocalExecutor({ workRoot, sink: new RecordingSink(), uidRange: { first, last } });
      await next.start();
      await next.shutdown();
      assert.deepEqual(
        readdirSync(workRoot).filter((e) => !e.startsWith(".")),
        [],
        "start() removed the leftovers",
      );
    } finally {
      rmSync(workRoot, { recursive: true, force: true });
    }
  });
});

test("start() refuses a work root the sandbox uids cannot reach", { skip }, async () => {
  const closed = mkdtempSync(path.join(tmpdir(), "gantry-local-closed-")); // mode 0700
  try {
    const ex = new LocalExecutor({
      workRoot: path.join(closed, "work"),
      sink: new RecordingSink(),
      uidRange: { first: 62070, last: 62079 },
    });
    await assert.rejects(ex.start(), (err: unknown) => {
      assert.ok(isGantryError(err));
      assert.equal(err.code, "GANTRY_ERR_CONFIG");
      assert.match(err.message, /unreachable for sandbox uids/);
      return true;
    });
  } finally {
    rmSync(closed, { recursive: true, force: true });
  }
});

describe("LocalExecutor sharing a machine", { skip }, () => {
  test("two executors with the same uid range never run attempts under the same uid", async () => {
    const roots = [0, 1].map(() => mkdtempSync(path.join(tmpdir(), "gantry-local-shared-")));
    const sink = new RecordingSink();
    const range = { first: 62080, last: 62083 };
    const [a, b] = roots.map((workRoot) => new LocalExecutor({ workRoot, sink, uidRange: range })) as [
      LocalExecutor,
      LocalExecutor,
    ];
    try {
      await a.start();
      await b.start();
      const reqs = [a, b, a, b].map((ex) => ({ ex, req: request(spec(["sleep", "1"])) }));
      for (const { ex, req } of reqs) await ex.launch(req);
      await new Promise((r) => setTimeout(r, 300));
      const uids = new Set<number>();
      for (let u = range.first; u <= range.last; u++) uids.add(u);
      const running = await pidsByUid(uids);
      assert.equal(running.size, 4, `4 attempts on 4 distinct uids: ${[...running.keys()].join(",")}`);
      // The range is full now: a fifth attempt is refused as busy by either executor.
      await assert.rejects(a.launch(request(spec(["true"]))), (err: unknown) => {
        return isGantryError(err) && err.code === "GANTRY_ERR_EXECUTOR_BUSY";
      });
      for (const { req } of reqs) assert.equal((await sink.final(req.runId)).state, "succeeded");
    } finally {
      await a.shutdown();
      await b.shutdown();
      for (const r of roots) rmSync(r, { recursive: true, force: true });
    }
  });

  test("start() kills orphans of a dead Gantry under free uids, and leaves a live owner's alone", async () => {
    const workRoot = mkdtempSync(path.join(tmpdir(), "gantry-local-orphans-"));
    const orphanUid = 62090;
    const ownedUid = 62091;
    const otherGantry = new UidLocks();
    assert.equal(await otherGantry.tryLock(ownedUid), true);
    const started = [orphanUid, ownedUid].map((uid) =>
      spawn("sleep", ["30"], { uid, gid: uid, stdio: "ignore", detached: true }),
    );
    const closed = started.map((c) => new Promise((r) => c.on("close", r)));
    const warnings: string[] = [];
    const ex = new LocalExecutor({
      workRoot,
      sink: new RecordingSink(),
      uidRange: { first: 62090, last: 62094 },
      logger: { info() {}, error() {}, warn: (_o, msg) => warnings.push(msg ?? "") },
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      await ex.start();
      assert.deepEqual(await pidsOfUid(orphanUid), [], "the orphan was killed");
      assert.equal((await pidsOfUid(ownedUid)).length, 1, "the live owner's process was left alone");
      assert.ok(warnings.some((w) => w.includes("orphaned")));
    } finally {
      await ex.shutdown();
      for (const c of started) c.kill("SIGKILL");
      await Promise.all(closed);
      otherGantry.releaseAll();
      rmSync(workRoot, { recursive: true, force: true });
    }
  });
});

describe("LocalExecutor in a sandbox without cgroups (rlimits only)", { skip }, () => {
  const sink = new RecordingSink();
  let workRoot: string;
  let ex: LocalExecutor;
  before(async () => {
    workRoot = mkdtempSync(path.join(tmpdir(), "gantry-local-rlimits-"));
    ex = new LocalExecutor({
      workRoot,
      sink,
      useCgroups: false,
      uidRange: { first: UID_FIRST + 30, last: UID_FIRST + 39 },
    });
    await ex.start();
  });
  after(async () => {
    await ex.shutdown();
    rmSync(workRoot, { recursive: true, force: true });
  });
  async function runToEnd(s: JobSpec) {
    const req = request(s);
    await ex.launch(req);
    return { runId: req.runId, final: await sink.final(req.runId) };
  }

  test("describes the degraded enforcement", () => {
    const d = ex.describe();
    assert.match(d?.memory ?? "", /RLIMIT_AS/);
    assert.match(d?.processes ?? "", /RLIMIT_NPROC/);
    assert.doesNotMatch(d?.processes ?? "", /cgroup/);
  });

  test("fork bomb is contained by RLIMIT_NPROC: never more processes than allowed, nothing survives", async () => {
    const processes = 16;
    const req = request(
      spec(["sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 1; exit 1"], {
        limits: { processes, wallSeconds: 10 },
      }),
    );
    const range = new Set<number>();
    for (let u = UID_FIRST + 30; u <= UID_FIRST + 39; u++) range.add(u);
    let peak = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        for (const pids of (await pidsByUid(range, true)).values()) peak = Math.max(peak, pids.length);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await ex.launch(req);
    const final = await sink.final(req.runId);
    done = true;
    await sampler;
    assert.equal(final.state, "failed");
    // Seen in stderr ("Cannot fork"): without a pids cgroup that is all there is to go on.
    assert.equal(final.reason, "process_limit");
    assert.ok(peak <= processes + 2 + 2, `peak ${peak} processes of the uid`);
    assert.equal(await strayProcesses(), 0);
  });

  test("a 2 GiB allocation fails under RLIMIT_AS and is reported as memory_limit", async () => {
    const { final } = await runToEnd(
      spec(["python3", "-c", "b = bytearray(2 << 30)"], { limits: { memoryMB: 256 } }),
    );
    assert.equal(final.state, "failed");
    assert.equal(final.reason, "memory_limit");
  });

  test("an infinite loop gets SIGXCPU: cpu_time_limit", async () => {
    const { final } = await runToEnd(
      spec(["sh", "-c", "while :; do :; done"], { limits: { cpuSeconds: 1, wallSeconds: 20 } }),
    );
    assert.equal(final.reason, "cpu_time_limit");
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
