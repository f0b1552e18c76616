/**
 * A second kube-apiserver of the test cluster, owned by one test: same binary, same flags and the
 * same etcd as the cluster's own (read from kwokctl's record of how it started it, `kwok.yaml` in
 * the cluster directory), on its own port on 127.0.0.1. Several API servers sharing one etcd is
 * how an HA control plane runs, so clients of either see the same cluster. A test points Gantry at
 * this one and SIGKILLs and restarts it at will, while the controllers, the scheduler, kwok and
 * every other test keep using the first one: the cluster goes on while Gantry's watches are down.
 *
 *   const api = await startExtraApiServer(t);   // stopped after the test
 *   new KubernetesExecutor({ kubeConfig: api.kc, … });
 *   await api.kill();  …  await api.start();
 */

import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { freePort } from "../helpers/gantry-process.ts";
import { kubeRequest, saveKubeConfig, useTestCluster, waitFor } from "./harness.ts";

export interface ExtraApiServer {
  port: number;
  /** Admin credentials of the cluster, pointed at this API server. */
  kc: KubeConfig;
  kubeconfigPath: string;
  /** Its stdout and stderr, for failure messages. */
  logPath: string;
  /** The process is running (it may not answer yet). */
  readonly running: boolean;
  /** Starts it (again, on the same port) and waits until /readyz answers ok. */
  start(): Promise<void>;
  /** SIGKILL, and waits for the process to exit. */
  kill(): Promise<void>;
}

interface KwokComponent {
  name?: string;
  binary?: string;
  args?: string[];
}

/** The binary and flags kwokctl started the cluster's kube-apiserver with. */
async function clusterApiServerCommand(clusterDir: string): Promise<{ binary: string; args: string[] }> {
  const text = await readFile(join(clusterDir, "kwok.yaml"), "utf8");
  for (const doc of parseAllDocuments(text)) {
    // kwokctl's own record; only the fields read here are typed.
    const config = doc.toJS() as { kind?: string; components?: KwokComponent[] } | null;
    if (config?.kind !== "KwokctlConfiguration") continue;
    const apiserver = config.components?.find((c) => c.name === "kube-apiserver");
    if (apiserver?.binary !== undefined && apiserver.args !== undefined)
      return { binary: apiserver.binary, args: apiserver.args };
  }
  throw new Error(`no kube-apiserver component in ${clusterDir}/kwok.yaml`);
}

/**
 * Starts a second kube-apiserver on the test cluster's etcd and stops it after the test. It needs
 * the cluster started by up.sh (cluster.json beside the kubeconfig).
 */
export async function startExtraApiServer(t: TestContext): Promise<ExtraApiServer> {
  const { kc: adminKc, info } = await useTestCluster();
  if (info === undefined)
    throw new Error("a second API server needs the cluster started by test/k8s/up.sh (cluster.json)");
  const { binary, args } = await clusterApiServerCommand(info.clusterDir);
  const port = await freePort();
  const flags = [
    ...args.filter((a) => !a.startsWith("--secure-port=")),
    `--secure-port=${port}`,
    // The first API server keeps the `kubernetes` Service's endpoints (same address, other port:
    // two reconcilers would keep rewriting them).
    "--endpoint-reconciler-type=none",
  ];
  const dir = await mkdtemp(join(tmpdir(), "gantry-apiserver-"));
  const logPath = join(dir, "kube-apiserver.log");
  const log = createWriteStream(logPath, { flags: "a" });

  const server = adminKc.getCurrentCluster();
  if (server === null) throw new Error("the admin kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: adminKc.clusters.map((c) =>
      c.name === server.name ? { ...c, server: `https://127.0.0.1:${port}` } : c,
    ),
    users: adminKc.users,
    contexts: adminKc.contexts,
    currentContext: adminKc.currentContext,
  });
  const kubeconfigPath = await saveKubeConfig(kc, join(dir, "kubeconfig"));

  let child: ChildProcess | null = null;
  const alive = (): boolean => child !== null && child.exitCode === null && child.signalCode === null;
  const kill = async (): Promise<void> => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once("exit", resolve));
    c.kill("SIGKILL");
    await exited;
  };
  // A test process that dies leaves no API server behind.
  const onExit = (): void => {
    if (alive()) child?.kill("SIGKILL");
  };
  process.once("exit", onExit);

  const api: ExtraApiServer = {
    port,
    kc,
    kubeconfigPath,
    logPath,
    get running() {
      return alive();
    },
    async start() {
      if (alive()) throw new Error("the extra kube-apiserver is running already");
      const c = spawn(binary, flags, { cwd: info.clusterDir, stdio: ["ignore", "pipe", "pipe"] });
      c.stdout.pipe(log, { end: false });
      c.stderr.pipe(log, { end: false });
      child = c;
      await waitFor(
        `the extra kube-apiserver on port ${port} to be ready (log: ${logPath})`,
        async () => {
          if (!alive()) throw new Error(`the extra kube-apiserver exited (${c.exitCode}); see ${logPath}`);
          const res = await kubeRequest(kc, { method: "GET", path: "/readyz" }).catch(() => null);
          return res?.status === 200 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    },
    kill,
  };
  t.after(async () => {
    await kill();
    process.removeListener("exit", onExit);
    log.end();
    await rm(dir, { recursive: true, force: true });
  });
  await api.start();
  return api;
}
