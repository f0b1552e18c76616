/**
 * The control plane bench/kubernetes.ts measures against, from test/k8s/ (real kube-apiserver,
 * controller manager, scheduler and etcd; kwok's fake nodes):
 *
 * - `private` (default): a cluster of its own, `GANTRY_K8S_RUN_DIR=<tmp> GANTRY_K8S_NODES=<n>
 *   test/k8s/up.sh`, stopped at the end by the pids kwokctl recorded (not down.sh, which must never
 *   touch the shared cluster). Fake nodes take at most 110 pods each (kwokctl's node template), so
 *   the shared cluster's two nodes hold 220: a thousand runs in flight need ten nodes; and a
 *   thousand Jobs do not load the API server other people's tests use.
 * - `shared`: the shared test cluster (harness.ts `useTestCluster`), left running.
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { isApiStatus, useTestCluster } from "../test/k8s/harness.ts";

/** `status.allocatable.pods` of a node made by `kwokctl scale node`. */
export const PODS_PER_NODE = 110;

export interface BenchCluster {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** Pods the Ready nodes take (status.allocatable.pods summed). */
  podCapacity: number;
  nodes: number;
  stop(): Promise<void>;
}

const upScript = join(dirname(fileURLToPath(import.meta.url)), "..", "test", "k8s", "up.sh");

export async function benchCluster(kind: "private" | "shared", nodes: number): Promise<BenchCluster> {
  if (kind === "shared") {
    const { kc, kubeconfigPath } = await useTestCluster();
    return { kc, kubeconfigPath, ...(await capacity(kc)), stop: async () => {} };
  }
  const runDir = await mkdtemp(join(tmpdir(), "gantry-bench-k8s-"));
  const stop = () => stopPrivate(runDir);
  try {
    const kubeconfigPath = await runUp({ GANTRY_K8S_RUN_DIR: runDir, GANTRY_K8S_NODES: String(nodes) });
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return { kc, kubeconfigPath, ...(await capacity(kc)), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function runUp(env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [upScript], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const path = out.trim().split("\n").pop() ?? "";
      if (code === 0 && path !== "") resolve(path);
      else reject(new Error(`test/k8s/up.sh failed (exit ${code})`));
    });
  });
}

async function capacity(kc: KubeConfig): Promise<{ podCapacity: number; nodes: number }> {
  const list = await kc.makeApiClient(CoreV1Api).listNode();
  const ready = list.items.filter((n) =>
    (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  );
  const pods = ready.reduce((sum, n) => sum + Number(n.status?.allocatable?.pods ?? 0), 0);
  return { podCapacity: pods, nodes: ready.length };
}

/** Stops the private cluster's processes (TERM, KILL after 5 s) by their pid files and removes it. */
async function stopPrivate(runDir: string): Promise<void> {
  const pidDir = join(runDir, "kwok", "clusters", "gantry-test", "pids");
  const pids: number[] = [];
  for (const file of await readdir(pidDir).catch(() => [])) {
    const pid = Number((await readFile(join(pidDir, file), "utf8")).trim());
    if (Number.isSafeInteger(pid) && pid > 1) pids.push(pid);
  }
  for (const pid of pids) signal(pid, "SIGTERM");
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(alive)) signal(pid, "SIGKILL");
  while (pids.some(alive)) await new Promise((r) => setTimeout(r, 100));
  await rm(runDir, { recursive: true, force: true });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Running and not a zombie (kwokctl's children are not ours to reap). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/^\d+ \(.*\) Z/.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return "";
  }
}

/** Deletes the namespace and waits until it is gone, so the next phase starts on a quiet cluster. */
export async function deleteNamespace(kc: KubeConfig, name: string, timeoutMs = 180_000): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespace({ name, propagationPolicy: "Background" });
  } catch (err) {
    if (!isApiStatus(err, 404)) throw err;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await core.readNamespace({ name });
    } catch (err) {
      if (isApiStatus(err, 404)) return;
      throw err;
    }
    if (Date.now() > deadline) throw new Error(`namespace ${name} still there after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
