/**
 * The embedded backend: PGlite (Postgres compiled to WASM) in a data directory, or in memory.
 *
 * PGlite is one connection in this process. Its `query` and `transaction` already share one mutex,
 * so transactions are serial and a query never lands inside someone else's transaction; queries
 * inside a transaction must go through its `tx`. Advisory locks are per session, and with one session
 * they would never conflict, so session locks are kept in this process instead — the only one that
 * may open the data directory. LISTEN/NOTIFY works as in Postgres (`pg.listen`).
 */

import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import type { Transaction } from "@electric-sql/pglite";
import { SqlStore } from "./sql-store.ts";
import type { AdvisoryKey, SessionLock, SqlClient, SqlParam, SqlQueryable, SqlRow } from "./sql-client.ts";

export interface PgliteStoreOptions {
  /** Directory of the database files; in memory (gone at close) when omitted. */
  dataDir?: string;
}

/** Opens the database; call `migrate()` before use (openStore does). */
export async function createPgliteStore(options: PgliteStoreOptions = {}): Promise<SqlStore> {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true });
  return pgliteStoreFrom(await PGlite.create(options.dataDir));
}

/** A store over a PGlite the caller opened (tests reach the same database for setup); closing the
 *  store closes it. Call `migrate()` before use. */
export function pgliteStoreFrom(pg: PGlite): SqlStore {
  return new SqlStore(new PgliteClient(pg));
}

class PgliteClient implements SqlClient {
  readonly backend = "pglite";
  readonly #pg: PGlite;
  /** Session locks held in this process, by key. */
  readonly #held = new Map<string, AbortController>();
  /** Tail of the wait chain for each key, for withSessionLock. */
  readonly #waits = new Map<string, Promise<unknown>>();
  #closed = false;

  constructor(pg: PGlite) {
    this.#pg = pg;
  }

  async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
    return (await this.#pg.query<R>(text, [...params])).rows;
  }

  async exec(script: string): Promise<void> {
    await this.#pg.exec(script);
  }

  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    return this.#pg.transaction((tx) => fn(wrapTransaction(tx)));
  }

  async listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    const unlisten = await this.#pg.listen(channel, fn);
    return async () => {
      if (!this.#closed) await unlisten();
    };
  }

  async withSessionLock<T>(key: AdvisoryKey, fn: () => Promise<T>): Promise<T> {
    const id = key.join(":");
    const previous = this.#waits.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#waits.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.#waits.get(id) === tail) this.#waits.delete(id);
    }
  }

  async tryHoldSessionLock(key: AdvisoryKey): Promise<SessionLock | null> {
    const id = key.join(":");
    if (this.#closed || this.#held.has(id)) return null;
    const holder = new AbortController();
    this.#held.set(id, holder);
    return {
      lost: holder.signal,
      release: async () => {
        if (this.#held.get(id) === holder) this.#held.delete(id);
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const holder of this.#held.values()) holder.abort(new Error("store closed"));
    this.#held.clear();
    await this.#pg.close();
  }
}

function wrapTransaction(tx: Transaction): SqlQueryable {
  return {
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
      return (await tx.query<R>(text, [...params])).rows;
    },
    async exec(script: string): Promise<void> {
      await tx.exec(script);
    },
  };
}
