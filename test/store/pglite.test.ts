/**
 * The Store conformance suite on PGlite (in memory, a fresh database for this file), plus what only
 * the embedded backend has: a data directory that survives a restart.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { openStore } from "../../src/store/open-store.ts";
import { pgliteStoreFrom } from "../../src/store/pglite-store.ts";
import { newRun, storeConformance } from "./store.conformance.ts";

let pg: PGlite | undefined;

storeConformance("pglite", {
  async open() {
    pg = await PGlite.create();
    const store = pgliteStoreFrom(pg);
    await store.migrate();
    return store;
  },
  async sql(text) {
    if (!pg) throw new Error("open() first");
    await pg.exec(text);
  },
});

test("PGlite: a data directory keeps runs across close and reopen, and reopening migrates nothing twice", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gantry-pglite-"));
  try {
    const dataDir = join(dir, "data");
    const first = await openStore({ dataDir });
    assert.equal(first.backend, "pglite");
    const run = await first.createRun(newRun({ owner: "persist" }));
    await first.appendLogs(run.id, 1, [{ stream: "stdout", at: new Date(), text: "kept" }]);
    await first.close();

    const second = await openStore({ dataDir });
    assert.equal((await second.getRun(run.id))?.owner, "persist");
    assert.equal((await second.readLogs(run.id, {}))[0]?.text, "kept");
    await second.migrate();
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PGlite: openStore without options is an in-memory, migrated store", async () => {
  const store = await openStore();
  try {
    assert.equal(store.backend, "pglite");
    assert.equal(await store.countApiTokens(), 0);
  } finally {
    await store.close();
  }
});

test("PGlite: leadership is lost when the store closes", async () => {
  const store = await openStore();
  const lead = await store.tryAcquireLeadership("reconciler");
  assert.ok(lead?.lost);
  await store.close();
  assert.equal(lead.lost.aborted, true);
});
