/**
 * The Kubernetes test control plane for tests (see test/k8s/README.md): a real kube-apiserver,
 * controller manager and scheduler with kwok's fake nodes, started by test/k8s/up.sh.
 *
 * - `useTestCluster()` gives the kubeconfig (GANTRY_TEST_KUBECONFIG when `npm test` started the
 *   cluster, otherwise it runs up.sh once per process, which reuses a healthy running cluster).
 *   It never stops the cluster: other test processes share it. `npm run k8s:down` stops it.
 * - `createTestNamespace()` gives each test its own namespace and deletes it afterwards.
 * - `serviceAccountKubeConfig()` gives a client that authenticates as a ServiceAccount (for RBAC).
 * - `writePodLog()` appends lines to a fake pod's container log (served by `pods/log`).
 * - `recordWatch()` records a watch's events and waits for one that matches.
 * - `textSink()` collects what a log or exec stream writes (and survives aborting a followed log).
 * - `kubeRequest()` sends a request exactly as given (typed clients drop unknown fields).
 * - `TEST_ANNOTATIONS` are the pod annotations that steer a fake pod's life.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { Writable } from "node:stream";
import type { RequestOptions } from "node:https";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, Watch } from "@kubernetes/client-node";
import type { KubernetesObject } from "@kubernetes/client-node";

/** Pod annotations read by the cluster's kwok Stages (test/k8s/kwok/config.yaml). */
export const TEST_ANNOTATIONS = {
  /** Go duration ("2s", "500ms") the pod stays Pending on its node before Running. Default 0. */
  startDelay: "gantry.dev/test-start-delay",
  /** Go duration a Job's pod runs before it terminates. Default 1s. */
  runDuration: "gantry.dev/test-run-duration",
  /** Exit code of every container; non-zero ends the pod Failed with reason Error. Default 0. */
  exitCode: "gantry.dev/test-exit-code",
  /** "true": every container ends OOMKilled with exit code 137, the pod Failed. */
  oom: "gantry.dev/test-oom",
  /** Container waiting reason (e.g. ImagePullBackOff): the pod stays Pending with it, never runs. */
  waitingReason: "gantry.dev/test-waiting-reason",
  /** Message of the terminated or waiting container state. */
  message: "gantry.dev/test-message",
} as const;

/** What up.sh writes next to the kubeconfig (cluster.json). */
export interface TestClusterInfo {
  name: string;
  kubernetesVersion: string;
  kwokVersion: string;
  etcdVersion: string;
  runDir: string;
  podLogsDir: string;
  execDir: string;
  clusterDir: string;
}

export interface TestCluster {
  kubeconfigPath: string;
  /** Cluster-admin client configuration. */
  kc: KubeConfig;
  /** Present when the cluster was started by up.sh (needed by writePodLog). */
  info: TestClusterInfo | undefined;
}

const upScript = join(dirname(fileURLToPath(import.meta.url)), "up.sh");
let cluster: Promise<TestCluster> | undefined;

/** The test cluster, started (or found running) once per process. */
export function useTestCluster(): Promise<TestCluster> {
  cluster ??= connect().catch((err: unknown) => {
    cluster = undefined;
    throw err;
  });
  return cluster;
}

async function connect(): Promise<TestCluster> {
  let kubeconfigPath = process.env.GANTRY_TEST_KUBECONFIG;
  if (kubeconfigPath === undefined || kubeconfigPath === "") kubeconfigPath = await runUpScript();
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  let info: TestClusterInfo | undefined;
  try {
    info = JSON.parse(
      await readFile(join(dirname(kubeconfigPath), "cluster.json"), "utf8"),
    ) as TestClusterInfo;
  } catch {
    info = undefined;
  }
  return { kubeconfigPath, kc, info };
}

function runUpScript(): Promise<string> {
  return new Promise((resolve, reject) => {
    // Progress (and a first build's Go output) goes to our stderr; the last stdout line is the path.
    const child = spawn("bash", [upScript], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const path = out.trim().split("\n").pop() ?? "";
      if (code === 0 && path !== "") resolve(path);
      else reject(new Error(`test/k8s/up.sh failed (exit ${code}); run it by hand to see why`));
    });
  });
}

export interface TestNamespace {
  name: string;
  /** Deletes the namespace (and the pod log files written for it); the API finishes it off. */
  cleanup(): Promise<void>;
}

/** A fresh namespace named `<prefix>-<random>`, labelled gantry.dev/test=true. */
export async function createTestNamespace(kc: KubeConfig, prefix: string): Promise<TestNamespace> {
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 48) || "test";
  const name = `${base}-${randomBytes(4).toString("hex")}`;
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels: { "gantry.dev/test": "true" } } } });
  return {
    name,
    async cleanup() {
      try {
        await core.deleteNamespace({ name, propagationPolicy: "Background" });
      } catch (err) {
        if (!isApiStatus(err, 404)) throw err;
      }
      const info = (await useTestCluster()).info;
      if (info !== undefined) await rm(join(info.podLogsDir, name), { recursive: true, force: true });
    },
  };
}

/** True when `err` is an API error with this HTTP status. */
export function isApiStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/**
 * A client configuration that authenticates as ServiceAccount `name` in `namespace` (created when
 * missing) with a bound token from the TokenRequest API; it has only the rights RBAC grants it.
 */
export async function serviceAccountKubeConfig(
  kc: KubeConfig,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<KubeConfig> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  } catch (err) {
    if (!isApiStatus(err, 409)) throw err;
  }
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tokenRequest.status?.token;
  if (token === undefined || token === "") throw new Error(`no token issued for ${namespace}/${name}`);
  const server = kc.getCurrentCluster();
  if (server === null) throw new Error("the admin kubeconfig has no current cluster");
  const user = `system:serviceaccount:${namespace}:${name}`;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...server, name: "test" }],
    users: [{ name: user, token }],
    contexts: [{ name: "test", cluster: "test", user, namespace }],
    currentContext: "test",
  });
  return out;
}

/** Writes a client configuration to a file (for code that takes a kubeconfig path). */
export async function saveKubeConfig(kc: KubeConfig, path: string): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, kc.exportConfig(), { mode: 0o600 });
  return path;
}

export interface PodLogWrite {
  namespace: string;
  pod: string;
  /** Container name; default "main". */
  container?: string;
  /** Lines to append (without newlines). May be empty, to only set up the pod's log. */
  lines: string[];
  /** Default stdout. */
  stream?: "stdout" | "stderr";
}

const registeredLogs = new Set<string>();

/**
 * Appends lines to a fake pod container's log, as the container would have printed them; `pods/log`
 * (also with follow) serves them through the API server. The file lives under the cluster's
 * pod-logs directory: `<podLogsDir>/<namespace>/<pod>/<container>.log` (CRI log format). The first
 * write for a container points kwok at that file with a namespaced `Logs` object (named after the
 * pod) and waits until kwok uses it; the pod must already be bound to a node.
 */
export async function writePodLog(kc: KubeConfig, write: PodLogWrite): Promise<string> {
  const { namespace, pod, lines } = write;
  const container = write.container ?? "main";
  const info = (await useTestCluster()).info;
  if (info === undefined)
    throw new Error(
      "writePodLog needs the cluster started by test/k8s/up.sh (no cluster.json beside the kubeconfig)",
    );
  const dir = join(info.podLogsDir, namespace, pod);
  const file = join(dir, `${container}.log`);
  await mkdir(dir, { recursive: true });
  const stream = write.stream ?? "stdout";
  await appendFile(file, lines.map((line) => `${new Date().toISOString()} ${stream} F ${line}\n`).join(""));
  const key = `${namespace}/${pod}/${container}`;
  if (!registeredLogs.has(key)) {
    await registerPodLogs(kc, namespace, pod, container, dir);
    registeredLogs.add(key);
  }
  return file;
}

const logsResource = { group: "kwok.x-k8s.io", version: "v1alpha1", plural: "logs" } as const;

interface KwokLog {
  containers?: string[];
  logsFile?: string;
  previousLogsFile?: string;
  follow?: boolean;
}

async function registerPodLogs(
  kc: KubeConfig,
  namespace: string,
  pod: string,
  container: string,
  dir: string,
): Promise<void> {
  const previous = join(dir, `${container}.previous.log`);
  await appendFile(previous, "");
  const entry: KwokLog = {
    containers: [container],
    logsFile: join(dir, `${container}.log`),
    previousLogsFile: previous,
    follow: true,
  };
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (let attempt = 0; ; attempt++) {
    try {
      // The API returns untyped JSON for custom resources.
      const existing = (await custom.getNamespacedCustomObject({
        ...logsResource,
        namespace,
        name: pod,
      })) as {
        spec?: { logs?: KwokLog[] };
      };
      const logs = (existing.spec?.logs ?? []).filter((l) => !(l.containers ?? []).includes(container));
      await custom.patchNamespacedCustomObject({
        ...logsResource,
        namespace,
        name: pod,
        body: [{ op: "replace", path: "/spec/logs", value: [...logs, entry] }],
      });
      break;
    } catch (err) {
      if (isApiStatus(err, 404)) {
        try {
          await custom.createNamespacedCustomObject({
            ...logsResource,
            namespace,
            body: {
              apiVersion: `${logsResource.group}/${logsResource.version}`,
              kind: "Logs",
              metadata: { name: pod, namespace },
              spec: { logs: [entry] },
            },
          });
          break;
        } catch (createErr) {
          if (!isApiStatus(createErr, 409) || attempt > 3) throw createErr;
          continue;
        }
      }
      if (!isApiStatus(err, 409) || attempt > 3) throw err;
    }
  }
  // kwok serves the cluster-wide default until its informer sees the Logs object; the default
  // "previous" log holds a marker line, the pod's own is empty.
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(`kwok to serve the logs of ${namespace}/${pod}/${container}`, async () => {
    try {
      const prev = await core.readNamespacedPodLog({ namespace, name: pod, container, previous: true });
      return prev === "" ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

/** Polls `check` until it returns something other than undefined, or throws after the timeout. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface KubeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path with query, e.g. `/apis/batch/v1/namespaces/x/jobs?fieldValidation=Strict`. */
  path: string;
  body?: string;
  /** Default application/json when there is a body. */
  contentType?: string;
}

export interface KubeResponse {
  status: number;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json: unknown;
}

/** Sends one request to the API server exactly as given, with `kc`'s credentials. */
export async function kubeRequest(kc: KubeConfig, req: KubeRequest): Promise<KubeResponse> {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined) throw new Error("the kubeconfig has no current cluster");
  const url = new URL(req.path, server);
  const options: RequestOptions = { method: req.method, headers: { Accept: "application/json" } };
  await kc.applyToHTTPSOptions(options);
  if (req.body !== undefined)
    options.headers = { ...options.headers, "Content-Type": req.contentType ?? "application/json" };
  return new Promise((resolve, reject) => {
    const r = httpsRequest(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
      res.on("error", reject);
    });
    r.on("error", reject);
    r.end(req.body);
  });
}

export interface WatchEvent<T extends KubernetesObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface RecordedWatch<T extends KubernetesObject> {
  /** Every event so far, in order. */
  readonly events: WatchEvent<T>[];
  /** Resolves with the first event (past or future) that matches, or rejects after the timeout. */
  until(what: string, match: (event: WatchEvent<T>) => boolean, timeoutMs?: number): Promise<WatchEvent<T>>;
  stop(): void;
}

/**
 * Watches `path` (e.g. `/api/v1/namespaces/x/pods`) and records its events. Start it before
 * creating the objects, and stop it when done (tests fail if they leave watches open).
 */
export async function recordWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
): Promise<RecordedWatch<T>> {
  const events: WatchEvent<T>[] = [];
  const waiters = new Set<{ match: (e: WatchEvent<T>) => boolean; resolve: (e: WatchEvent<T>) => void }>();
  let ended: Error | undefined;
  const failWaiters = new Set<(err: Error) => void>();
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object) => {
      // The watch hands over parsed JSON; its shape is the watched kind.
      const event = { type: type as WatchEvent<T>["type"], object: object as T };
      events.push(event);
      for (const w of waiters) if (w.match(event)) w.resolve(event);
    },
    (err: unknown) => {
      ended = err instanceof Error ? err : new Error(`watch of ${path} ended`);
      for (const fail of failWaiters) fail(ended);
    },
  );
  return {
    events,
    until(what, match, timeoutMs = 30_000) {
      const past = events.find(match);
      if (past !== undefined) return Promise.resolve(past);
      if (ended !== undefined) return Promise.reject(new Error(`waiting for ${what}: ${ended.message}`));
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (e: WatchEvent<T>) => {
            done();
            resolve(e);
          },
        };
        const fail = (err: Error) => {
          done();
          reject(new Error(`waiting for ${what}: ${err.message}`));
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(waiter);
          failWaiters.delete(fail);
        };
        waiters.add(waiter);
        failWaiters.add(fail);
      });
    },
    stop() {
      controller.abort();
    },
  };
}

/** A Writable that collects UTF-8 text; `text` holds everything written so far. */
export interface TextSink extends Writable {
  readonly text: string;
}

/**
 * A stream to hand to client-node's `Log.log()` or `Exec.exec()`. Aborting a followed log makes the
 * response stream that `Log.log()` pipes into it fail with an AbortError nobody listens to
 * (client-node 2.0.1), which crashes the process; the sink listens for it and ignores it.
 */
export function textSink(): TextSink {
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString("utf8");
      done();
    },
  });
  sink.on("pipe", (source) => {
    source.on("error", (err: Error) => {
      if (err.name !== "AbortError") sink.destroy(err);
    });
  });
  return Object.defineProperty(sink, "text", { get: () => text }) as TextSink;
}
