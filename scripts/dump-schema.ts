/**
 * Regenerates src/store/schema.sql: migrates an in-memory PGlite and dumps the catalog.
 *   npx tsx scripts/dump-schema.ts          write the file
 *   npx tsx scripts/dump-schema.ts --check  exit 1 when the committed file is out of date
 */

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { pgliteStoreFrom } from "../src/store/pglite-store.ts";
import { dumpSchema } from "../src/store/schema-dump.ts";

const target = fileURLToPath(new URL("../src/store/schema.sql", import.meta.url));

const pg = await PGlite.create();
const store = pgliteStoreFrom(pg);
await store.migrate();
const dump = await dumpSchema(async (text) => (await pg.query<Record<string, unknown>>(text)).rows);
await store.close();

if (process.argv.includes("--check")) {
  if (readFileSync(target, "utf8") !== dump) {
    console.error("src/store/schema.sql is out of date: run npx tsx scripts/dump-schema.ts");
    process.exit(1);
  }
} else {
  writeFileSync(target, dump);
}
