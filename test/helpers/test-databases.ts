/**
 * The two store backends every store-facing test runs against: PGlite (a fresh data directory or
 * in-memory database) and a real PostgreSQL (a fresh database on the server named by
 * GANTRY_TEST_DATABASE_URL, which `npm test` starts). Without that variable the Postgres half is
 * skipped locally and fails under CI, so CI can never pass without it.
 */

import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type BackendName = "pglite" | "postgres";

export interface TestDatabase {
  backend: BackendName;
  /** For Postgres: the URL of the fresh database. */
  databaseUrl?: string;
  /** For PGlite: a fresh data directory. */
  dataDir?: string;
  drop(): Promise<void>;
}

export function postgresServerUrl(): string | undefined {
  const url = process.env.GANTRY_TEST_DATABASE_URL;
  if (url === undefined || url === "") {
    if (process.env.CI === "true")
      throw new Error("GANTRY_TEST_DATABASE_URL is not set; run the suite with `npm test`");
    return undefined;
  }
  return url;
}

/** Backends available here; Postgres is missing only outside CI without a server. */
export function testBackends(): BackendName[] {
  return postgresServerUrl() === undefined ? ["pglite"] : ["pglite", "postgres"];
}

export async function createTestDatabase(backend: BackendName): Promise<TestDatabase> {
  if (backend === "pglite") {
    const dataDir = await mkdtemp(join(tmpdir(), "gantry-pglite-"));
    return { backend, dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const serverUrl = postgresServerUrl();
  if (serverUrl === undefined) throw new Error("no PostgreSQL server for tests (GANTRY_TEST_DATABASE_URL)");
  const name = `gantry_t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    backend,
    databaseUrl: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
