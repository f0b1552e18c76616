/**
 * Starts a whole Gantry (store, dispatcher, local executor, API on a free port) on a fresh test
 * database, plus helpers to call its API as the generated admin or as new users.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { loadServerConfig, type ServerConfig } from "../../src/server/config.ts";
import { startGantry, type RunningGantry } from "../../src/server/gantry-server.ts";
import { createTestDatabase, type BackendName, type TestDatabase } from "./test-databases.ts";

export interface TestGantry {
  gantry: RunningGantry;
  url: string;
  adminToken: string;
  config: ServerConfig;
  database: TestDatabase;
  dataDir: string;
  /** fetch against the API with a bearer token (admin by default); JSON in, parsed JSON out. */
  api(
    method: string,
    path: string,
    options?: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; text: string }>;
  /** Creates a token of `role` acting as `owner`; returns its secret. */
  createToken(role: "admin" | "submitter" | "viewer", owner: string): Promise<string>;
  /** Polls until the run is in a terminal state (or `timeoutMs` passes) and returns it. */
  waitForRun(id: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export async function startTestGantry(
  backend: BackendName,
  overrides: Partial<ServerConfig> = {},
  env: Record<string, string> = {},
): Promise<TestGantry> {
  const database = await createTestDatabase(backend);
  const dataDir = await mkdtemp(join(tmpdir(), "gantry-test-"));
  const config: ServerConfig = {
    ...loadServerConfig({ GANTRY_PORT: "0", GANTRY_DATA_DIR: database.dataDir ?? dataDir, ...env }),
    databaseUrl: database.databaseUrl,
    logLevel: "silent",
    ...overrides,
  };
  let adminToken = "";
  let gantry: RunningGantry;
  try {
    gantry = await startGantry(config, {
      logger: pino({ level: process.env.GANTRY_TEST_LOG ?? "silent" }),
      onAdminToken: (t) => (adminToken = t),
    });
  } catch (err) {
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = gantry.url;
  const api: TestGantry["api"] = async (method, path, options = {}) => {
    const token = options.token === undefined ? adminToken : options.token;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers["content-type"] ??= "application/json";
    const response = await fetch(url + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed, text };
  };
  return {
    gantry,
    url,
    adminToken,
    config,
    database,
    dataDir: database.dataDir ?? dataDir,
    api,
    async createToken(role, owner) {
      const res = await api("POST", "/v1/tokens", { body: { name: `${owner}-${role}`, role, owner } });
      if (res.status !== 201) throw new Error(`token create failed: ${res.text}`);
      return (res.body as { token: string }).token;
    },
    async waitForRun(id, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await api("GET", `/v1/runs/${id}`);
        const run = res.body as Record<string, unknown>;
        if (["succeeded", "failed", "timed_out", "cancelled"].includes(String(run.state))) return run;
        if (Date.now() > deadline)
          throw new Error(`run ${id} still ${String(run.state)} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await gantry.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
