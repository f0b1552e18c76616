/**
 * The Kubernetes executor against a plain client, on the real control plane of test/k8s/ (kwok's
 * fake nodes), with ratios measured in the same run. Gantry is the whole path: POST /v1/runs →
 * store → dispatcher → KubernetesExecutor, in a process of its own (bench/kubernetes-gantry.ts).
 * The baseline is a loop of `@kubernetes/client-node` calls creating the same rendered objects
 * (`renderRunObjects`: the Job, then its Secret owned by it, as `launch` does) through a
 * `TokenBucket` of the same QPS/burst as the executor's, all at once (as the dispatcher launches),
 * also in a process of its own (bench/kubernetes-plain.ts). This process only submits and watches.
 *
 * Order: a few unmeasured runs one at a time warm both up; at QPS 50/100 the baseline, then Gantry;
 * raised, Gantry, then the baseline (whose last burst need not wait for its pods: the controller
 * manager creates pods at its default 20 requests/s, which bounds every burst's pods alike).
 *
 * 1. Jobs per second from submit until every Job exists (a watch on Jobs sees it), and each run's
 *    submit → Job p50/p99: at the executor's default QPS 50/burst 100, and raised.
 * 2. Submit → Running p50/p99: Gantry until the store records `running`, the baseline until the
 *    watch sees the pod Running; one run at a time, then a small burst.
 * 3. Memory of the Gantry process (after a full GC): just started, idle after runs, and with N
 *    runs in flight (Jobs created, pods scheduled, attempts tracked by the executor).
 *
 * Runs in the bursts of 1 and 3 are *held*: their pods are scheduled but stay Pending (kwok start
 * delay 30 min), so Gantry never follows their logs. kwok serves a followed log with one inotify
 * instance each, and fs.inotify.max_user_instances (128 per user, shared by every cluster and tool
 * of that user on the machine) cannot hold hundreds: past it kwok answers 400 "too many open
 * files", the executor retries every 5 s, and other people's log tests fail. Only the runs of 2
 * start (a few dozen at a time) and end after seconds.
 *
 * Usage: node --import tsx bench/kubernetes.ts [N=1000] [--store pglite|postgres]
 *          [--cluster private|shared] [--nodes auto] [--qps 500] [--burst 1000] [--small 200]
 *          [--running 40] [--sequential 20] [--profile DIR]
 *
 * `--cluster private` (default) starts a control plane of its own with enough fake nodes (110
 * pods each) for every pod of the run, and stops it at the end, namespaces and all; `shared` uses
 * the shared test cluster (2 nodes, 220 pods: N is cut to what fits) and deletes each namespace
 * after its phase. Postgres uses GANTRY_TEST_DATABASE_URL, or starts a throwaway server
 * (scripts/test-postgres.sh). Asserts nothing.
 */

import { fork, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Watch, type KubeConfig, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { GANTRY_LABELS } from "../src/core/kubernetes-objects.ts";
import type { RunState } from "../src/core/run-state.ts";
import { createTestNamespace } from "../test/k8s/harness.ts";
import { createTestDatabase, type BackendName, type TestDatabase } from "../test/helpers/test-databases.ts";
import { benchCluster, deleteNamespace, PODS_PER_NODE, type BenchCluster } from "./kubernetes-cluster.ts";
import {
  jobRequest,
  type GantryMessage,
  type GantryRequest,
  type GantrySettings,
  type PodTiming,
  type ReachedAt,
} from "./kubernetes-gantry.ts";
import type { PlainRequest } from "./kubernetes-plain.ts";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    store: { type: "string", default: "pglite" },
    cluster: { type: "string", default: "private" },
    nodes: { type: "string", default: "auto" },
    qps: { type: "string", default: "500" },
    burst: { type: "string", default: "1000" },
    small: { type: "string", default: "200" },
    running: { type: "string", default: "40" },
    sequential: { type: "string", default: "20" },
    /** Writes a CPU profile of each Gantry process into this directory (node --cpu-prof). */
    profile: { type: "string" },
  },
});
const BACKEND = opts.store as BackendName;
if (BACKEND !== "pglite" && BACKEND !== "postgres") throw new Error("--store is pglite or postgres");
const CLUSTER = opts.cluster === "shared" ? "shared" : "private";
type Qps = { qps: number; burst: number };
const DEFAULT_QPS: Qps = { qps: 50, burst: 100 }; // KubernetesExecutor's (GANTRY_KUBE_QPS/BURST)
const RAISED_QPS: Qps = { qps: Number(opts.qps), burst: Number(opts.burst) };
const ASKED = Number(positionals[0] ?? 1000);
const SEQUENTIAL = Number(opts.sequential);
const WARM_UP = 5;

/** Scheduled, never started: no container, no log to follow (see the header). */
const HELD: PodTiming = { startDelay: "30m", runDuration: "30m" };
/** Started at once, done after a second or a few. */
const QUICK: PodTiming = { startDelay: "0s", runDuration: "1s" };
const BRIEF: PodTiming = { startDelay: "0s", runDuration: "3s" };

const here = dirname(fileURLToPath(import.meta.url));
const wall = Date.now();
/** Progress on stderr, with seconds since the start. */
const step = (what: string) => console.error(`  [${((Date.now() - wall) / 1000).toFixed(0)} s] ${what}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface Spread {
  p50: number;
  p99: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- what the cluster says, per run: its Job exists, its pod is scheduled, its pod runs ----------

interface Timeline {
  /** Epoch ms of the first sighting, by run id (label gantry.dev/run-id). */
  jobAdded: Map<string, number>;
  podScheduled: Map<string, number>;
  podRunning: Map<string, number>;
  stop(): void;
}

async function watchNamespace(kc: KubeConfig, namespace: string): Promise<Timeline> {
  const jobAdded = new Map<string, number>();
  const podScheduled = new Map<string, number>();
  const podRunning = new Map<string, number>();
  let stopped = false;
  const controllers: AbortController[] = [];
  const runIdOf = (obj: V1Job | V1Pod) => obj.metadata?.labels?.[GANTRY_LABELS.runId];
  const watch = async (
    path: string,
    seen: (obj: V1Job & V1Pod) => void,
    resourceVersion?: string,
  ): Promise<void> => {
    let rv = resourceVersion;
    const controller = await new Watch(kc).watch(
      path,
      { resourceVersion: rv },
      (type, obj: V1Job & V1Pod & { code?: number }) => {
        // The watch hands over parsed JSON of the watched kind (a Status on ERROR).
        if (type === "ERROR") {
          if (obj.code === 410) rv = undefined; // too old: list afresh
          return;
        }
        rv = obj.metadata?.resourceVersion ?? rv;
        seen(obj);
      },
      () => {
        // client-node ends a watch after 30 s without events; resume where it stopped.
        if (!stopped) setTimeout(() => void watch(path, seen, rv), 100);
      },
    );
    controllers.push(controller);
  };
  const first = (map: Map<string, number>, id: string | undefined) => {
    if (id !== undefined && !map.has(id)) map.set(id, Date.now());
  };
  await watch(`/apis/batch/v1/namespaces/${namespace}/jobs`, (job) => first(jobAdded, runIdOf(job)));
  await watch(`/api/v1/namespaces/${namespace}/pods`, (pod) => {
    if (pod.spec?.nodeName) first(podScheduled, runIdOf(pod));
    if (pod.status?.phase === "Running") first(podRunning, runIdOf(pod));
  });
  return {
    jobAdded,
    podScheduled,
    podRunning,
    stop() {
      stopped = true;
      for (const c of controllers) c.abort();
    },
  };
}

/** A fresh namespace, watched while `fn` runs; deleted (and waited for) on a shared cluster. */
async function inNamespace<T>(
  cluster: BenchCluster,
  prefix: string,
  fn: (namespace: string, tl: Timeline) => Promise<T>,
): Promise<T> {
  const ns = await createTestNamespace(cluster.kc, prefix);
  let tl: Timeline | undefined;
  try {
    tl = await watchNamespace(cluster.kc, ns.name);
    return await fn(ns.name, tl);
  } finally {
    tl?.stop();
    // A private cluster goes away whole; deleting a thousand Jobs would take minutes (the garbage
    // collector deletes their pods at the controller manager's 20 requests/s).
    if (CLUSTER === "shared") {
      await deleteNamespace(cluster.kc, ns.name);
      step(`  namespace ${ns.name} deleted`);
    }
  }
}

// --- the baseline, in a child process (bench/kubernetes-plain.ts) -----------------------------------

interface BurstResult {
  runs: number;
  jobsPerSecond: number;
  toJob: Spread;
  /** Bursts of started runs only. */
  toRunning?: Spread;
  /** Baseline: requests retried after a 429; Gantry: runs that needed a second attempt. */
  retries: number;
  /** Gantry: where the time to the Job goes, p50 of each stage. */
  stages?: Stages;
}

/** Submit → queued (API + insert) → dispatching (claimed) → Job seen by the watch → pending. */
interface Stages {
  api: Spread;
  claim: Spread;
  launch: Spread;
  observe: Spread;
}

function stages(
  ids: string[],
  submitted: Map<string, number>,
  reached: Record<string, ReachedAt>,
  tl: Timeline,
): Stages {
  const gap = (from: (id: string) => number | undefined, to: (id: string) => number | undefined) =>
    spread(ids.map((id) => (to(id) ?? Number.NaN) - (from(id) ?? Number.NaN)));
  return {
    api: gap(
      (id) => submitted.get(id),
      (id) => reached[id]?.at.queued,
    ),
    claim: gap(
      (id) => reached[id]?.at.queued,
      (id) => reached[id]?.at.dispatching,
    ),
    launch: gap(
      (id) => reached[id]?.at.dispatching,
      (id) => tl.jobAdded.get(id),
    ),
    observe: gap(
      (id) => tl.jobAdded.get(id),
      (id) => reached[id]?.at.pending,
    ),
  };
}

function stagesLine(s: Stages | undefined): string {
  if (s === undefined) return "";
  const f = (x: Spread) => `${x.p50.toFixed(0)}/${x.p99.toFixed(0)}`;
  return `submit→queued ${f(s.api)}, queued→claimed ${f(s.claim)}, claimed→Job ${f(s.launch)}, Job→pending ${f(s.observe)} ms (p50/p99)`;
}

/**
 * `n` runs at once; every Job must exist and, unless `last` (nothing runs after it), every pod be
 * scheduled (running, unless held), so that the next phase starts on a quiet cluster.
 */
async function baselineBurst(
  cluster: BenchCluster,
  plain: Forked<PlainRequest>,
  n: number,
  qps: Qps,
  timing: PodTiming,
  last = false,
): Promise<BurstResult> {
  return inNamespace(cluster, "bench-k8s-base", async (namespace, tl) => {
    const ids = Array.from({ length: n }, () => randomUUID());
    const t0 = Date.now();
    const retries = await plain.request<number>({ type: "create", namespace, runIds: ids, timing, ...qps });
    await until("the baseline's Jobs", () => tl.jobAdded.size >= n, 120_000);
    const lastJob = Math.max(...tl.jobAdded.values());
    step(`  baseline: ${n} Jobs in ${((lastJob - t0) / 1000).toFixed(1)} s`);
    const started = timing !== HELD;
    const pods = started ? tl.podRunning : tl.podScheduled;
    if (!last) {
      await until("the baseline's pods", () => pods.size >= n, 600_000, 200);
      step(`  baseline: ${n} pods ${started ? "running" : "scheduled"}`);
    }
    return {
      runs: n,
      jobsPerSecond: n / ((lastJob - t0) / 1000),
      toJob: spread(ids.map((id) => (tl.jobAdded.get(id) ?? Number.NaN) - t0)),
      ...(started ? { toRunning: spread(ids.map((id) => (tl.podRunning.get(id) ?? Number.NaN) - t0)) } : {}),
      retries,
    };
  });
}

async function baselineSequential(
  cluster: BenchCluster,
  plain: Forked<PlainRequest>,
  k: number,
  qps: Qps,
): Promise<Spread> {
  return inNamespace(cluster, "bench-k8s-seq", async (namespace, tl) => {
    const latencies: number[] = [];
    for (let i = 0; i < k; i++) {
      const id = randomUUID();
      const t = Date.now();
      await plain.request({ type: "create", namespace, runIds: [id], timing: QUICK, ...qps });
      await until("a pod to run", () => tl.podRunning.has(id), 60_000, 5);
      latencies.push((tl.podRunning.get(id) ?? Number.NaN) - t);
    }
    return spread(latencies);
  });
}

// --- the two child processes -------------------------------------------------------------------------

/** A request before it gets its id (Omit over each member of the union). */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
type ChildMessage =
  | { type: "ready" }
  | { type: "reply"; id: number; value: unknown }
  | { type: "error"; id: number; message: string };

/** A forked bench/*.ts process answering `Req`s over IPC. */
class Forked<Req extends { id: number; type: string }> {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: ChildMessage) => {
      if (m.type === "ready") return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.type === "reply") p?.resolve(m.value);
      else p?.reject(new Error(m.message));
    });
    child.on("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`the child process exited (${code})`));
      this.pending.clear();
    });
  }

  /** Forks `file` and resolves with its `ready` message. */
  static start<Req extends { id: number; type: string }, Ready extends { type: "ready" }>(
    file: string,
    arg: string,
    execArgv: string[] = [],
  ): Promise<{ child: Forked<Req>; ready: Ready }> {
    const child = fork(join(here, file), [arg], {
      execArgv: ["--import", "tsx", ...execArgv],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
      child.once("message", (m: Ready) => resolve({ child: new Forked<Req>(child), ready: m }));
    });
  }

  request<T>(req: WithoutId<Req>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (v) => resolve(v as T), reject });
      this.child.send({ ...req, id });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    await this.request({ type: "stop" } as WithoutId<Req>).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The Gantry process (bench/kubernetes-gantry.ts) and its HTTP API. */
class GantryChild {
  private constructor(
    private readonly child: Forked<GantryRequest>,
    readonly url: string,
    readonly token: string,
  ) {}

  static async start(settings: GantrySettings): Promise<GantryChild> {
    const profile = opts.profile === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${opts.profile}`];
    const { child, ready } = await Forked.start<GantryRequest, Extract<GantryMessage, { type: "ready" }>>(
      "kubernetes-gantry.ts",
      JSON.stringify(settings),
      ["--expose-gc", ...profile],
    );
    return new GantryChild(child, ready.url, ready.token);
  }

  memory(): Promise<NodeJS.MemoryUsage> {
    return this.child.request({ type: "memory" });
  }

  warnings(): Promise<Record<string, number>> {
    return this.child.request({ type: "warnings" });
  }

  counts(): Promise<Record<RunState, number>> {
    return this.child.request({ type: "counts" });
  }

  reached(runIds: string[]): Promise<Record<string, ReachedAt>> {
    return this.child.request({ type: "reached", runIds });
  }

  async submit(timing: PodTiming): Promise<string> {
    const res = await fetch(`${this.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify(jobRequest(timing)),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`submit failed: ${res.status} ${text}`);
    return (JSON.parse(text) as { id: string }).id;
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}

/** A Gantry on a fresh database and namespace for `fn`. */
async function withGantry<T>(
  cluster: BenchCluster,
  qps: Qps,
  maxActiveRuns: number,
  fn: (g: GantryChild, tl: Timeline) => Promise<T>,
): Promise<T> {
  const database: TestDatabase = await createTestDatabase(BACKEND);
  try {
    return await inNamespace(cluster, "bench-k8s-gantry", async (namespace, tl) => {
      const g = await GantryChild.start({
        kubeconfigPath: cluster.kubeconfigPath,
        namespace,
        ...(database.databaseUrl === undefined ? {} : { databaseUrl: database.databaseUrl }),
        ...(database.dataDir === undefined ? {} : { dataDir: database.dataDir }),
        ...qps,
        maxActiveRuns,
      });
      try {
        return await fn(g, tl);
      } finally {
        const warnings = await g.warnings().catch(() => ({}));
        for (const [what, count] of Object.entries(warnings)) step(`  gantry logged ${count}× ${what}`);
        await g.stop();
      }
    });
  } finally {
    await database.drop();
  }
}

/**
 * `n` submits (50 at a time, as bench/dispatch.ts), until every Job exists and every pod is
 * scheduled, and the store has every run `pending` (held) or past `running`.
 */
async function gantryBurst(g: GantryChild, tl: Timeline, n: number, timing: PodTiming): Promise<BurstResult> {
  const submitted = new Map<string, number>();
  const t0 = Date.now();
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const t = Date.now();
        submitted.set(await g.submit(timing), t);
      }),
    );
  }
  const lastSubmit = Date.now();
  const ids = [...submitted.keys()];
  await until("Gantry's Jobs", () => ids.every((id) => tl.jobAdded.has(id)), 300_000, 100);
  const lastJob = Math.max(...ids.map((id) => tl.jobAdded.get(id) ?? 0));
  step(`  gantry: ${n} Jobs in ${((lastJob - t0) / 1000).toFixed(1)} s`);
  const started = timing !== HELD;
  const state: RunState = started ? "running" : "pending";
  await until("Gantry's pods", () => ids.every((id) => tl.podScheduled.has(id)), 600_000, 200);
  let reached: Record<string, ReachedAt> = {};
  await until(
    `Gantry's runs to be ${state}`,
    async () => {
      const c = await g.counts();
      if (c.failed > 0) throw new Error(`${c.failed} runs failed`);
      if (started ? c.running + c.succeeded < n : c.pending < n) return false;
      reached = await g.reached(ids);
      return ids.every((id) => reached[id]?.at[state] !== undefined);
    },
    400_000,
    250,
  );
  step(`  gantry: ${n} runs ${state}; submitting took ${((lastSubmit - t0) / 1000).toFixed(1)} s`);
  return {
    runs: n,
    jobsPerSecond: n / ((lastJob - t0) / 1000),
    toJob: spread(ids.map((id) => (tl.jobAdded.get(id) ?? Number.NaN) - (submitted.get(id) ?? 0))),
    ...(started
      ? {
          toRunning: spread(
            ids.map((id) => (reached[id]?.at.running ?? Number.NaN) - (submitted.get(id) ?? 0)),
          ),
        }
      : {}),
    stages: stages(ids, submitted, reached, tl),
    retries: ids.filter((id) => (reached[id]?.attempt ?? 1) > 1).length,
  };
}

async function gantrySequential(g: GantryChild, k: number): Promise<Spread> {
  const latencies: number[] = [];
  for (let i = 0; i < k; i++) {
    const t = Date.now();
    const id = await g.submit(QUICK);
    let at: number | null = null;
    await until(
      "a run to be running",
      async () => (at = (await g.reached([id]))[id]?.at.running ?? null) !== null,
      60_000,
      10,
    );
    latencies.push((at ?? Number.NaN) - t);
  }
  return spread(latencies);
}

async function drained(g: GantryChild): Promise<void> {
  await until(
    "Gantry to be idle",
    async () => {
      const c = await g.counts();
      return c.queued + c.dispatching + c.pending + c.running === 0;
    },
    120_000,
    250,
  );
}

// --- the run ---------------------------------------------------------------------------------------

async function withPostgres<T>(fn: () => Promise<T>): Promise<T> {
  if (BACKEND !== "postgres" || (process.env.GANTRY_TEST_DATABASE_URL ?? "") !== "") return fn();
  const script = join(here, "..", "scripts", "test-postgres.sh");
  const started = spawnSync("bash", [script, "start"], { encoding: "utf8" });
  const url = started.stdout.trim().split("\n").pop() ?? "";
  if (started.status !== 0 || !url.startsWith("postgres://")) throw new Error(`${script} start failed`);
  const parsed = new URL(url);
  const dir = parsed.searchParams.get("pgdir") ?? "";
  parsed.search = "";
  process.env.GANTRY_TEST_DATABASE_URL = parsed.toString();
  try {
    return await fn();
  } finally {
    spawnSync("bash", [script, "stop", dir]);
  }
}

const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(0);

function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) ? (a / b).toFixed(2) : "-";
}

function table(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  for (const r of rows)
    console.log(
      r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  "),
    );
}

async function main(): Promise<void> {
  const small0 = Number(opts.small);
  const running0 = Number(opts.running);
  // Every pod of the run at once: nothing is deleted on a private cluster (see inNamespace).
  const podsNeeded = 2 * (ASKED + small0 + running0 + SEQUENTIAL + WARM_UP);
  const nodes = opts.nodes === "auto" ? Math.ceil(podsNeeded / PODS_PER_NODE) + 1 : Number(opts.nodes);
  const cluster = await benchCluster(CLUSTER, nodes);
  let plain: Forked<PlainRequest> | undefined;
  try {
    plain = (
      await Forked.start<PlainRequest, { type: "ready" }>("kubernetes-plain.ts", cluster.kubeconfigPath)
    ).child;
    // Leave room for other people's pods on the shared cluster; phases there run one at a time.
    const room = CLUSTER === "shared" ? Math.max(10, cluster.podCapacity - 60) : cluster.podCapacity;
    const n = Math.min(ASKED, room);
    const small = Math.min(small0, n);
    const running = Math.min(running0, n);
    const maxActive = n + SEQUENTIAL + running + WARM_UP + 10;
    step(
      `${CLUSTER} cluster, ${cluster.nodes} fake nodes (${cluster.podCapacity} pods); store ${BACKEND}; ` +
        `N=${n}${n < ASKED ? ` (cut from ${ASKED} to fit)` : ""}`,
    );

    const q = (x: Qps) => `QPS ${x.qps}/${x.burst}`;
    step(`${q(DEFAULT_QPS)}: ${small} held runs at once, baseline then gantry`);
    // Both processes first run a few (unmeasured) runs one at a time: compiled code paths, open
    // connections, as in a process that has been serving for a while.
    await baselineSequential(cluster, plain, WARM_UP, DEFAULT_QPS);
    const baseSmall = await baselineBurst(cluster, plain, small, DEFAULT_QPS, HELD);
    const gantrySmall = await withGantry(cluster, DEFAULT_QPS, maxActive, async (g, tl) => {
      await gantrySequential(g, WARM_UP);
      await drained(g);
      return gantryBurst(g, tl, small, HELD);
    });

    // Gantry first this time: the baseline's last burst need not wait for its pods (the controller
    // manager creates a thousand at 20 requests/s), as nothing runs after it.
    step(`${q(RAISED_QPS)}: gantry: ${SEQUENTIAL} one at a time, ${running} at once, ${n} held at once`);
    const big = await withGantry(cluster, RAISED_QPS, maxActive, async (g, tl) => {
      const cold = await g.memory();
      const seq = await gantrySequential(g, SEQUENTIAL);
      const brief = await gantryBurst(g, tl, running, BRIEF);
      await drained(g);
      await sleep(2000);
      const idle = await g.memory();
      const held = await gantryBurst(g, tl, n, HELD);
      await sleep(5000); // informer caches and state settled
      const inFlight = await g.memory();
      return { cold, seq, brief, idle, held, inFlight };
    });
    step(`${q(RAISED_QPS)}: baseline: the same`);
    const baseSeq = await baselineSequential(cluster, plain, SEQUENTIAL, RAISED_QPS);
    const baseRunning = await baselineBurst(cluster, plain, running, RAISED_QPS, BRIEF);
    const baseBig = await baselineBurst(cluster, plain, n, RAISED_QPS, HELD, CLUSTER === "private");
    step("done");

    const rows: string[][] = [["", "baseline (client-node)", "gantry (POST /v1/runs)", "gantry/baseline"]];
    const rate = (what: string, b: BurstResult, ga: BurstResult) =>
      rows.push([
        what,
        b.jobsPerSecond.toFixed(1),
        ga.jobsPerSecond.toFixed(1),
        ratio(ga.jobsPerSecond, b.jobsPerSecond),
      ]);
    const ms = (what: string, b: Spread | undefined, ga: Spread | undefined) => {
      if (b === undefined || ga === undefined) return;
      rows.push([`${what} p50, ms`, b.p50.toFixed(0), ga.p50.toFixed(0), ratio(ga.p50, b.p50)]);
      rows.push([`${what} p99, ms`, b.p99.toFixed(0), ga.p99.toFixed(0), ratio(ga.p99, b.p99)]);
    };
    rate(`Jobs/s, ${small} at once, ${q(DEFAULT_QPS)}`, baseSmall, gantrySmall);
    ms(`submit → Job, ${small} at once, ${q(DEFAULT_QPS)},`, baseSmall.toJob, gantrySmall.toJob);
    rate(`Jobs/s, ${n} at once, ${q(RAISED_QPS)}`, baseBig, big.held);
    ms(`submit → Job, ${n} at once,`, baseBig.toJob, big.held.toJob);
    ms(`submit → Running, one at a time (${SEQUENTIAL}),`, baseSeq, big.seq);
    ms(`submit → Running, ${running} at once,`, baseRunning.toRunning, big.brief.toRunning);
    const perRun = (big.inFlight.rss - big.idle.rss) / 1024 / n;
    rows.push(
      ["Gantry RSS after start, MiB", "", mib(big.cold.rss), ""],
      ["Gantry RSS idle after runs, MiB", "", mib(big.idle.rss), "1.00"],
      [
        `Gantry RSS with ${n} runs in flight, MiB`,
        "",
        mib(big.inFlight.rss),
        ratio(big.inFlight.rss, big.idle.rss),
      ],
      [
        `heap after GC, idle → ${n} in flight, MiB`,
        "",
        `${mib(big.idle.heapUsed)} → ${mib(big.inFlight.heapUsed)}`,
        ratio(big.inFlight.heapUsed, big.idle.heapUsed),
      ],
      ["RSS per run in flight, KiB", "", perRun.toFixed(0), ""],
      [
        "heap per run in flight, KiB",
        "",
        ((big.inFlight.heapUsed - big.idle.heapUsed) / 1024 / n).toFixed(0),
        "",
      ],
    );
    console.log(
      `\nKubernetes executor benchmark: ${CLUSTER} cluster (${cluster.nodes} kwok nodes), store ${BACKEND}, ` +
        `${((Date.now() - wall) / 1000).toFixed(0)} s`,
    );
    table(rows);
    console.log(`gantry, ${small} at once, ${q(DEFAULT_QPS)}: ${stagesLine(gantrySmall.stages)}`);
    console.log(`gantry, ${n} at once, ${q(RAISED_QPS)}: ${stagesLine(big.held.stages)}`);
    const m = (u: NodeJS.MemoryUsage) =>
      `rss ${mib(u.rss)}, heap ${mib(u.heapUsed)}/${mib(u.heapTotal)}, external ${mib(u.external)}, arrayBuffers ${mib(u.arrayBuffers)}`;
    console.log(`gantry memory (MiB) idle: ${m(big.idle)}; with ${n} in flight: ${m(big.inFlight)}`);
    const retried = baseSmall.retries + baseRunning.retries + baseBig.retries;
    const requeued = gantrySmall.retries + big.brief.retries + big.held.retries;
    if (retried + requeued > 0)
      console.log(
        `(baseline retried ${retried} requests after 429; ${requeued} Gantry runs needed a second attempt)`,
      );
  } finally {
    await plain?.stop();
    await cluster.stop();
  }
}

await withPostgres(main);
