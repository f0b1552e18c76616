/**
 * `--server-dry-run`: sends each object to the API server of a kubeconfig with `dryRun=All` and
 * `fieldValidation=Strict`, so admission, defaulting and the server's own validation run and nothing
 * is persisted. An object that already exists is checked with a dry-run server-side apply instead.
 * The server's verdict is recorded beside the local one; a rejection becomes a `server-dry-run`
 * finding.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ValidateOptions } from "./config.ts";
import { ruleLevel } from "./config.ts";
import type { ObjectResult, ServerVerdict } from "./findings.ts";
import { hasErrors } from "./findings.ts";
import { RULES } from "./rules.ts";

export interface DryRunOptions {
  /** Path of a kubeconfig file; default: $KUBECONFIG or ~/.kube/config (the current context). */
  kubeconfig?: string;
  /** Context to use instead of the kubeconfig's current one. */
  context?: string;
  /** Requests in flight at once. */
  concurrency?: number;
  fieldManager?: string;
}

export interface DryRunClient {
  /** Server URL of the chosen context, for messages. */
  server: string;
  verdict(obj: KubernetesObject): Promise<ServerVerdict>;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function statusMessage(err: unknown): { code?: number; message: string } {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  const code = typeof e.code === "number" ? e.code : undefined;
  let body = e.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      // keep the raw text
    }
  }
  if (typeof body === "object" && body !== null && typeof (body as StatusBody).message === "string")
    return { ...(code === undefined ? {} : { code }), message: (body as StatusBody).message! };
  return {
    ...(code === undefined ? {} : { code }),
    message: typeof e.message === "string" ? e.message : String(err),
  };
}

/**
 * Builds a client for the kubeconfig's current (or given) context. A client sends one request at a
 * time (so the `Warning` headers it collects belong to that request); use several for concurrency.
 * Objects without a namespace go to `default`.
 */
export async function createDryRunClient(opts: DryRunOptions = {}): Promise<DryRunClient> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  if (opts.context !== undefined) kc.setCurrentContext(opts.context);
  const cluster = kc.getCurrentCluster();
  if (cluster === null)
    throw new Error("the kubeconfig has no current cluster; pass --kubeconfig or set KUBECONFIG");
  let warnings: string[] = [];
  let rawBody: string | undefined;
  const config = k8s.createConfiguration({
    baseServer: new k8s.ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (ctx) => {
          ctx.setQueryParam("fieldValidation", "Strict");
          // The typed serializer drops fields its models do not know, which would hide exactly the
          // unknown fields strict validation is for: send the object as written.
          const method = String(ctx.getHttpMethod());
          if (rawBody !== undefined && (method === "POST" || method === "PATCH")) ctx.setBody(rawBody);
          return ctx;
        },
        post: async (rsp) => {
          const w = rsp.headers["warning"];
          // `299 - "message", 299 - "other"`: keep the quoted texts.
          warnings =
            w === undefined ? [] : [...w.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
          return rsp;
        },
      },
    ],
  });
  const api = new k8s.KubernetesObjectApi(config);
  const fieldManager = opts.fieldManager ?? "gantry-validate";
  let busy = Promise.resolve();
  const ask = async (obj: KubernetesObject): Promise<ServerVerdict> => {
    warnings = [];
    rawBody = JSON.stringify(obj);
    try {
      await api.create(obj, undefined, "All", fieldManager);
      return warnings.length > 0 ? { status: "accepted", warnings } : { status: "accepted" };
    } catch (err) {
      const { code, message } = statusMessage(err);
      if (code === 409) {
        try {
          warnings = [];
          await api.patch(obj, undefined, "All", fieldManager, true, k8s.PatchStrategy.ServerSideApply);
          return {
            status: "accepted",
            message: "already exists; a dry-run server-side apply was accepted",
            ...(warnings.length > 0 ? { warnings } : {}),
          };
        } catch (err2) {
          const s = statusMessage(err2);
          return s.code === undefined
            ? { status: "error", message: s.message }
            : { status: "rejected", message: s.message };
        }
      }
      if (code === undefined) return { status: "error", message };
      return { status: "rejected", message, ...(warnings.length > 0 ? { warnings } : {}) };
    }
  };
  return {
    server: cluster.server,
    verdict(obj) {
      const run = busy.then(() => ask(obj));
      busy = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    },
  };
}

/**
 * Asks the server about each object (one request in flight per client) and merges the verdicts into the results.
 * `objects[i]` belongs to `results[i]`; undefined objects (YAML that did not load) are left alone.
 */
export async function applyServerDryRun(
  results: ObjectResult[],
  objects: readonly unknown[],
  clients: readonly DryRunClient[],
  options: ValidateOptions,
): Promise<void> {
  let next = 0;
  const work = async (client: DryRunClient) => {
    while (next < results.length) {
      const i = next++;
      const r = results[i]!;
      const obj = objects[i];
      if (
        r.status === "skipped" ||
        typeof obj !== "object" ||
        obj === null ||
        r.kind === undefined ||
        r.apiVersion === undefined
      )
        continue;
      const verdict = await client.verdict(obj as KubernetesObject);
      r.server = verdict;
      if (verdict.status === "rejected") {
        const level = ruleLevel("server-dry-run", options);
        if (level !== "off") {
          r.findings.push({
            rule: "server-dry-run",
            severity: level,
            message: `the API server rejected it: ${verdict.message ?? "(no message)"}`,
            fix: RULES.get("server-dry-run")!.fix,
            location: { file: r.file, line: r.line },
          });
          r.status = hasErrors(r.findings) ? "invalid" : r.status;
        }
      }
    }
  };
  await Promise.all(clients.map(work));
}
