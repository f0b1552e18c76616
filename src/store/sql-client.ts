/**
 * The little a SQL store needs from a database connection. Both backends (PGlite and node-postgres)
 * implement it; everything above it — SQL, transactions, state rules — is shared in `sql-store.ts`.
 */

/** Values we pass as query parameters. JSON goes in as a string and is cast in SQL (`$1::jsonb`). */
export type SqlParam = string | number | boolean | null | Date | readonly string[];

/** A row as a driver returns it; `sql-store.ts` maps each one to a domain type. */
export type SqlRow = Record<string, unknown>;

export interface SqlQueryable {
  /** One parameterised statement. */
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly SqlParam[]): Promise<R[]>;
  /** A script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** Two 32-bit keys: the (classid, objid) form of Postgres advisory locks. */
export type AdvisoryKey = readonly [number, number];

export interface SessionLock {
  release(): Promise<void>;
  /** Aborted when the connection holding the lock is lost (the lock is then gone too). */
  readonly lost: AbortSignal;
}

export interface SqlClient extends SqlQueryable {
  readonly backend: "pglite" | "postgres";
  /** BEGIN … COMMIT around `fn`, ROLLBACK when it throws. Queries inside must use `tx`. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Calls `fn` with each NOTIFY payload on `channel`; returns the unsubscribe function. */
  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
  /** Runs `fn` while holding a session advisory lock, waiting for it first. */
  withSessionLock<T>(key: AdvisoryKey, fn: () => Promise<T>): Promise<T>;
  /** Takes a session advisory lock without waiting; null when someone else holds it. */
  tryHoldSessionLock(key: AdvisoryKey): Promise<SessionLock | null>;
  close(): Promise<void>;
}
