/**
 * Numbered, forward-only migrations from `./migrations/NNNN_name.sql`, applied in order, each in its
 * own transaction together with its row in `schema_migrations`. A session advisory lock serialises
 * processes that migrate at once: the second waits, then finds nothing left to do.
 */

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { AdvisoryKey, SqlClient } from "./sql-client.ts";

/** Advisory-lock namespace of Gantry (classid); objids below are fixed uses inside it. */
export const GANTRY_LOCK_CLASS = 0x67616e; // "gan"
export const MIGRATION_LOCK: AdvisoryKey = [GANTRY_LOCK_CLASS, 1];

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = fileURLToPath(new URL("./migrations/", import.meta.url));

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith(".sql"))
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match) throw new Error(`migration file name ${file} is not NNNN_name.sql`);
      return { version: Number(match[1]), name: match[2] ?? "", sql: readFileSync(join(dir, file), "utf8") };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migrations must be numbered 1, 2, 3…; found ${m.version} at ${i + 1}`);
  });
  return migrations;
}

const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

export async function migrate(client: SqlClient, migrations: Migration[] = loadMigrations()): Promise<void> {
  await client.withSessionLock(MIGRATION_LOCK, async () => {
    await client.query(CREATE_MIGRATIONS_TABLE);
    const rows = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const applied = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...applied);
    const known = migrations.length;
    // A database migrated by newer code may hold tables this code misreads: refuse, don't guess.
    if (newest > known) {
      throw new Error(
        `the database schema is at migration ${newest}, newer than this Gantry knows (${known}); upgrade Gantry`,
      );
    }
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.transaction(async (tx) => {
        await tx.exec(m.sql);
        await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      });
    }
  });
}
