/**
 * The production backend: a node-postgres Pool for queries and transactions, plus dedicated
 * connections where a session matters — one for LISTEN (reconnecting with capped backoff) and one
 * per held leadership lock (a session advisory lock dies with its connection, which is the point).
 */

import pg from "pg";
import type { PoolClient } from "pg";
import { SqlStore } from "./sql-store.ts";
import type { AdvisoryKey, SessionLock, SqlClient, SqlParam, SqlQueryable, SqlRow } from "./sql-client.ts";

export interface PostgresStoreOptions {
  databaseUrl: string;
  /** Pool size; at least 2 (migrate holds one connection for its lock while working on another). */
  maxConnections?: number;
  /** Where connection problems that the store recovers from are reported. */
  onError?: (err: Error) => void;
}

/** Connects lazily; call `migrate()` before use (openStore does). */
export function createPostgresStore(options: PostgresStoreOptions): SqlStore {
  return new SqlStore(new PostgresClient(options));
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;
const CHANNEL_RE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Transaction failures known to have left nothing behind: the connection died before COMMIT. */
const rolledBack = new WeakSet<Error>();

/**
 * The server ended the session (admin_shutdown, crash_shutdown, cannot_connect_now), or node-postgres
 * refused to send on a connection it already knows is broken: the statement never ran.
 */
function isDeadConnectionError(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return code === "57P01" || code === "57P02" || code === "57P03" || isNeverSentError(err);
}

/** node-postgres refused to send on a connection it already knew was broken. */
function isNeverSentError(err: unknown): boolean {
  return err instanceof Error && /not queryable/.test(err.message);
}

class PostgresClient implements SqlClient {
  readonly backend = "postgres";
  readonly #url: string;
  readonly #pool: pg.Pool;
  readonly #poolSize: number;
  readonly #onError: (err: Error) => void;
  readonly #listener: Listener;
  readonly #sessions = new Set<pg.Client>();
  #closed = false;

  constructor(options: PostgresStoreOptions) {
    this.#url = options.databaseUrl;
    this.#onError = options.onError ?? (() => {});
    this.#poolSize = Math.max(2, options.maxConnections ?? 10);
    this.#pool = new pg.Pool({ connectionString: options.databaseUrl, max: this.#poolSize });
    // An idle pooled connection that dies emits here; without a handler it would crash the process.
    this.#pool.on("error", (err) => this.#onError(err));
    this.#listener = new Listener(options.databaseUrl, this.#onError);
  }

  query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
    return this.#retryingDeadConnections(
      async () => (await this.#pool.query<R>(text, [...params])).rows,
      isDeadConnectionError,
    );
  }

  async exec(script: string): Promise<void> {
    await this.#pool.query(script);
  }

  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
    return this.#retryingDeadConnections(
      async () => {
        const { client, release } = await this.#checkout();
        let broken = false;
        let committing = false;
        try {
          await client.query("BEGIN");
          const result = await fn(wrapClient(client));
          committing = true;
          await client.query("COMMIT");
          return result;
        } catch (err) {
          try {
            await client.query("ROLLBACK");
          } catch {
            broken = true; // the connection is unusable; don't return it to the pool
          }
          // Before COMMIT, a connection that died (whatever the error said) took the transaction
          // with it, so running it again is safe. A COMMIT that failed may or may not have happened,
          // unless node-postgres never sent it.
          const lost = committing ? isNeverSentError(err) : broken || isDeadConnectionError(err);
          if (lost && err instanceof Error) rolledBack.add(err);
          throw err;
        } finally {
          release(broken);
        }
      },
      (err) => rolledBack.has(err as Error),
    );
  }

  /**
   * A pooled connection for several statements. While checked out, the pool does not listen for its
   * errors (a socket reset): without a listener of ours such an error would crash the process. The
   * failing statement rejects anyway, so the listener only reports.
   */
  async #checkout(): Promise<{ client: PoolClient; release(destroy: boolean): void }> {
    const client = await this.#pool.connect();
    const onError = (err: Error) => this.#onError(err);
    client.on("error", onError);
    return {
      client,
      release: (destroy) => {
        client.off("error", onError);
        client.release(destroy);
      },
    };
  }

  /**
   * Pooled connections the server already closed (a restart, an operator's pg_terminate_backend)
   * fail their next statement without running it, and a transaction cut short is rolled back. Such
   * a failure is retried on another connection — as often as the pool is large, since every pooled
   * connection may be dead. `retryable` says which failures are known to have changed nothing.
   */
  async #retryingDeadConnections<T>(op: () => Promise<T>, retryable: (err: unknown) => boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (attempt > this.#poolSize || !retryable(err)) throw err;
        this.#onError(err as Error);
      }
    }
  }

  listen(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    if (!CHANNEL_RE.test(channel)) throw new Error(`not a channel name: ${channel}`);
    return this.#listener.add(channel, fn);
  }

  async withSessionLock<T>(key: AdvisoryKey, fn: () => Promise<T>): Promise<T> {
    const { client, release } = await this.#checkout();
    let broken = false;
    try {
      await client.query("SELECT pg_advisory_lock($1::integer, $2::integer)", [...key]);
      try {
        return await fn();
      } finally {
        try {
          await client.query("SELECT pg_advisory_unlock($1::integer, $2::integer)", [...key]);
        } catch {
          broken = true; // closing the connection releases the lock
        }
      }
    } finally {
      release(broken);
    }
  }

  async tryHoldSessionLock(key: AdvisoryKey): Promise<SessionLock | null> {
    if (this.#closed) return null;
    // Its own connection, outside the pool: the lock must live exactly as long as this session.
    const client = new pg.Client({ connectionString: this.#url });
    const holder = new AbortController();
    let released = false;
    // Only an involuntary end loses the lock; a release is not news to the one who released.
    const lose = (err?: Error) => {
      this.#sessions.delete(client);
      if (!released && !holder.signal.aborted) holder.abort(err ?? new Error("leadership connection closed"));
    };
    client.on("error", (err) => {
      this.#onError(err);
      lose(err);
    });
    client.on("end", () => lose());
    await client.connect();
    this.#sessions.add(client);
    try {
      const [row] = (
        await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1::integer, $2::integer) AS ok", [
          ...key,
        ])
      ).rows;
      if (row?.ok) {
        return {
          lost: holder.signal,
          release: async () => {
            if (released) return;
            released = true;
            // Ending the session releases the lock; no separate unlock round trip needed.
            await client.end().catch(() => {});
          },
        };
      }
    } catch (err) {
      released = true;
      await client.end().catch(() => {});
      throw err;
    }
    released = true;
    await client.end().catch(() => {});
    return null;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#listener.close();
    await Promise.all([...this.#sessions].map((c) => c.end().catch(() => {})));
    await this.#pool.end();
  }
}

function wrapClient(client: PoolClient): SqlQueryable {
  return {
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlParam[] = []): Promise<R[]> {
      return (await client.query<R>(text, [...params])).rows;
    },
    async exec(script: string): Promise<void> {
      await client.query(script);
    },
  };
}

/**
 * One connection that LISTENs on every channel anyone subscribed to. When it drops, it reconnects
 * with capped exponential backoff and LISTENs again; notifications sent while it was down are lost,
 * which is why every consumer also polls as a safety net.
 */
class Listener {
  readonly #url: string;
  readonly #onError: (err: Error) => void;
  readonly #subscribers = new Map<string, Set<(payload: string) => void>>();
  #client: pg.Client | null = null;
  #connecting: Promise<pg.Client> | null = null;
  #retryTimer: NodeJS.Timeout | null = null;
  #backoffMs = RECONNECT_MIN_MS;
  #closed = false;

  constructor(url: string, onError: (err: Error) => void) {
    this.#url = url;
    this.#onError = onError;
  }

  async add(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>> {
    let subscribers = this.#subscribers.get(channel);
    const first = subscribers === undefined;
    if (!subscribers) {
      subscribers = new Set();
      this.#subscribers.set(channel, subscribers);
    }
    subscribers.add(fn);
    try {
      const client = await this.#connect();
      // #connect LISTENs on every channel it knows when it (re)connects; this one may be newer.
      if (first) await client.query(`LISTEN ${channel}`);
    } catch (err) {
      subscribers.delete(fn);
      if (subscribers.size === 0) this.#subscribers.delete(channel);
      throw err;
    }
    return async () => {
      const set = this.#subscribers.get(channel);
      if (!set?.delete(fn) || set.size > 0) return;
      this.#subscribers.delete(channel);
      await this.#client?.query(`UNLISTEN ${channel}`).catch(() => {});
    };
  }

  #connect(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client);
    if (this.#connecting) return this.#connecting;
    this.#connecting = (async () => {
      const client = new pg.Client({ connectionString: this.#url });
      client.on("notification", (msg) => {
        for (const fn of this.#subscribers.get(msg.channel) ?? []) {
          try {
            fn(msg.payload ?? "");
          } catch (err) {
            this.#onError(err instanceof Error ? err : new Error(String(err)));
          }
        }
      });
      client.on("error", (err) => {
        this.#onError(err);
        this.#dropped(client);
      });
      client.on("end", () => this.#dropped(client));
      try {
        await client.connect();
        for (const channel of this.#subscribers.keys()) await client.query(`LISTEN ${channel}`);
      } catch (err) {
        await client.end().catch(() => {});
        throw err;
      }
      if (this.#closed) {
        await client.end().catch(() => {});
        throw new Error("store closed");
      }
      this.#client = client;
      this.#backoffMs = RECONNECT_MIN_MS;
      return client;
    })().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  #dropped(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer || this.#subscribers.size === 0) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(RECONNECT_MAX_MS, this.#backoffMs * 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#connect().catch((err: unknown) => {
        this.#onError(err instanceof Error ? err : new Error(String(err)));
        this.#scheduleReconnect();
      });
    }, delay);
    this.#retryTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#subscribers.clear();
    const client = this.#client ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
