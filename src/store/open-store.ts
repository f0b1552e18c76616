/**
 * Opens Gantry's store: Postgres when a database URL is given, otherwise PGlite in `dataDir` (or in
 * memory when neither is given). Migrations are applied before the store is returned.
 */

import { createPgliteStore } from "./pglite-store.ts";
import { createPostgresStore } from "./postgres-store.ts";
import type { Store } from "./store.ts";

export interface OpenStoreOptions {
  /** `postgres://…`; takes precedence over dataDir. */
  databaseUrl?: string;
  /** PGlite data directory; in memory when omitted (tests). */
  dataDir?: string;
  /** Postgres only: pool size. */
  maxConnections?: number;
  /** Postgres only: connection trouble the store recovered from (a dropped LISTEN connection…). */
  onError?: (err: Error) => void;
}

export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const store =
    options.databaseUrl !== undefined && options.databaseUrl !== ""
      ? createPostgresStore({
          databaseUrl: options.databaseUrl,
          ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
          ...(options.onError !== undefined ? { onError: options.onError } : {}),
        })
      : await createPgliteStore(options.dataDir !== undefined ? { dataDir: options.dataDir } : {});
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
