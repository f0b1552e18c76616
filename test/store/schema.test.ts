/**
 * The committed schema dump matches what the migrations build, so every schema change arrives as a
 * reviewable diff of src/store/schema.sql (regenerate: npx tsx scripts/dump-schema.ts).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { loadMigrations } from "../../src/store/migrate.ts";
import { pgliteStoreFrom } from "../../src/store/pglite-store.ts";
import { dumpSchema } from "../../src/store/schema-dump.ts";

const committed = readFileSync(new URL("../../src/store/schema.sql", import.meta.url), "utf8");

test("src/store/schema.sql matches the migrated schema (else run: npx tsx scripts/dump-schema.ts)", async () => {
  const pg = await PGlite.create();
  const store = pgliteStoreFrom(pg);
  try {
    await store.migrate();
    const dump = await dumpSchema(async (text) => (await pg.query<Record<string, unknown>>(text)).rows);
    assert.equal(dump, committed);
  } finally {
    await store.close();
  }
});

test("migrations are numbered 1, 2, 3… with NNNN_name.sql file names", () => {
  const migrations = loadMigrations();
  assert.ok(migrations.length >= 1);
  assert.deepEqual(
    migrations.map((m) => m.version),
    migrations.map((_, i) => i + 1),
  );
});
