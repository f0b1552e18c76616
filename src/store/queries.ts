/**
 * Every SQL statement of the store, one named constant each, so a statement has exactly one home
 * and a reviewer reads the store's whole SQL surface in one file. Parameters are positional; JSON
 * goes in as text and is cast (`$n::text::jsonb`) so both drivers pass it through untouched.
 */

const RUN_COLUMNS = `
  id, seq, workload_id, kind, owner, state, attempt, failures, max_attempts, retry_base_delay_ms,
  retry_max_delay_ms, priority, reason, exit_code, executor, not_before, created_at, updated_at,
  started_at, finished_at`;

const EVENT_COLUMNS = "seq, run_id, attempt, from_state, to_state, reason, at";

const TOKEN_COLUMNS = "id, name, role, owner, created_at, revoked_at, last_used_at";

const WORKLOAD_COLUMNS = "id, kind, owner, spec, created_at";

// --- runs -----------------------------------------------------------------------------------------

/** $1 id, $2 kind, $3 owner, $4 spec json. */
export const INSERT_WORKLOAD = `
  INSERT INTO workloads (id, kind, owner, spec) VALUES ($1, $2, $3, $4::text::jsonb)`;

/** $1 id, $2 workload id, $3 kind, $4 owner, $5 state, $6 max attempts, $7 base delay, $8 max delay,
 *  $9 priority, $10 reason. */
export const INSERT_RUN = `
  INSERT INTO runs (id, workload_id, kind, owner, state, max_attempts, retry_base_delay_ms,
                    retry_max_delay_ms, priority, reason)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  RETURNING ${RUN_COLUMNS}`;

export const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`;

/** The row lock every state change of one run takes first, so changes to a run are serial. */
export const LOCK_RUN = `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`;

export const SELECT_WORKLOAD = `SELECT ${WORKLOAD_COLUMNS} FROM workloads WHERE id = $1`;

export const SELECT_WORKLOADS = `SELECT ${WORKLOAD_COLUMNS} FROM workloads WHERE id = ANY($1::uuid[])`;

/**
 * One page of runs, newest first. Each filter is skipped when its parameter is null.
 * $1 owner, $2 states, $3 kind, $4 cursor seq (exclusive), $5 page size (+1 to detect a next page).
 */
export const LIST_RUNS = `
  SELECT ${RUN_COLUMNS} FROM runs
  WHERE ($1::text IS NULL OR owner = $1)
    AND ($2::text[] IS NULL OR state = ANY($2::text[]))
    AND ($3::text IS NULL OR kind = $3)
    AND ($4::bigint IS NULL OR seq < $4::bigint)
  ORDER BY seq DESC
  LIMIT $5`;

/** $1 live states, $2 executor or null. Oldest first. */
export const LIST_LIVE_RUNS = `
  SELECT ${RUN_COLUMNS} FROM runs
  WHERE state = ANY($1::text[]) AND ($2::text IS NULL OR executor = $2)
  ORDER BY seq`;

export const COUNT_RUNS_BY_STATE = `SELECT state, count(*) AS n FROM runs GROUP BY state`;

/**
 * Applies a transition already decided by core/run-state to a locked row. The flags say what the
 * plan implies for the timestamps; the database clock sets them so not_before compares with now().
 * $1 id, $2 state, $3 attempt, $4 failures, $5 reason, $6 exit code, $7 executor,
 * $8 delay ms before the run may be claimed (null: unchanged), $9 'set' | 'clear' | 'keep' started_at,
 * $10 set finished_at.
 */
export const UPDATE_RUN_STATE = `
  UPDATE runs SET
    state = $2,
    attempt = $3,
    failures = $4,
    reason = $5,
    exit_code = $6,
    executor = $7,
    not_before = CASE WHEN $8::integer IS NULL THEN not_before
                      ELSE now() + $8::integer * interval '1 millisecond' END,
    started_at = CASE $9::text WHEN 'set' THEN coalesce(started_at, now())
                               WHEN 'clear' THEN NULL
                               ELSE started_at END,
    finished_at = CASE WHEN $10::boolean THEN now() ELSE finished_at END,
    updated_at = now()
  WHERE id = $1
  RETURNING ${RUN_COLUMNS}`;

// --- claiming -------------------------------------------------------------------------------------

/**
 * Serialises claimers for the rest of their transaction, so the active counts they read stay true
 * until their claims commit. $1, $2: the advisory key.
 */
export const LOCK_CLAIMS = `SELECT pg_advisory_xact_lock($1::integer, $2::integer)`;

/** Active runs per owner. $1 live states. */
export const COUNT_ACTIVE_BY_OWNER = `
  SELECT owner, count(*) AS n FROM runs WHERE state = ANY($1::text[]) GROUP BY owner`;

/**
 * The next due queued runs by priority, FIFO within a priority: an index range scan of
 * runs_claim_idx that stops after $1 rows, however long the queue. Read without locking — only the
 * runs core's selectRunsToClaim picks get locked, by CLAIM_RUNS. $1 window size.
 */
export const SELECT_CLAIM_CANDIDATES = `
  SELECT id, owner FROM runs
  WHERE state = 'queued' AND not_before <= now()
  ORDER BY priority DESC, seq
  LIMIT $1`;

/**
 * The same, but each owner contributes at most $1 rows (the per-owner cap), so owners at their cap
 * cannot fill the window and hide everyone behind them. It ranks every due queued run, so it is the
 * fallback for when the plain window came back full yet yielded too few claimable runs.
 * $1 per-owner cap, $2 window size.
 */
export const SELECT_CLAIM_CANDIDATES_PER_OWNER = `
  SELECT id, owner FROM (
    SELECT id, owner, priority, seq,
           row_number() OVER (PARTITION BY owner ORDER BY priority DESC, seq) AS owner_rank
    FROM runs
    WHERE state = 'queued' AND not_before <= now()
  ) ranked
  WHERE owner_rank <= $1
  ORDER BY priority DESC, seq
  LIMIT $2`;

/**
 * Claims the picked runs that are still queued. Rows another transaction holds (a cancel in flight)
 * are skipped, not waited for; one that changed since it was read is re-checked and left out.
 * $1 ids, $2 new state, $3 executor, $4 reason.
 */
export const CLAIM_RUNS = `
  UPDATE runs SET state = $2, executor = $3, reason = $4, updated_at = now()
  WHERE id IN (
    SELECT id FROM runs WHERE id = ANY($1::uuid[]) AND state = 'queued' FOR UPDATE SKIP LOCKED
  )
  RETURNING ${RUN_COLUMNS}`;

// --- events and notifications ---------------------------------------------------------------------

/** $1 json array of {run_id, attempt, from_state, to_state, reason}, recorded in array order. */
export const INSERT_EVENTS = `
  INSERT INTO run_events (run_id, attempt, from_state, to_state, reason)
  SELECT (e.item ->> 'run_id')::uuid, (e.item ->> 'attempt')::integer, e.item ->> 'from_state',
         e.item ->> 'to_state', e.item ->> 'reason'
  FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS e(item, ord)
  ORDER BY e.ord
  RETURNING ${EVENT_COLUMNS}`;

/** $1 run id, $2 after seq. */
export const LIST_EVENTS = `
  SELECT ${EVENT_COLUMNS} FROM run_events WHERE run_id = $1 AND seq > $2 ORDER BY seq`;

/** Delivered when the transaction commits (or at once outside one). $1 channel, $2 payloads. */
export const NOTIFY = `SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload`;

// --- results --------------------------------------------------------------------------------------

/** Inserts nothing when the run is unknown or the attempt already has a result.
 *  $1 run, $2 attempt, $3 status, $4 score, $5 fail tags, $6 feedback, $7 metrics, $8 artifacts (json). */
export const INSERT_RESULT = `
  INSERT INTO results (run_id, attempt, status, score, fail_tags, feedback, metrics, artifacts)
  SELECT $1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7::text::jsonb, $8::text::jsonb
  WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1)
  ON CONFLICT (run_id, attempt) DO NOTHING
  RETURNING attempt`;

/** The newest attempt's result. */
export const SELECT_LATEST_RESULT = `
  SELECT attempt, status, score, fail_tags, feedback, metrics, artifacts, recorded_at
  FROM results WHERE run_id = $1 ORDER BY attempt DESC LIMIT 1`;

// --- logs -----------------------------------------------------------------------------------------

/** Reserves $2 log seqs for run $1 under its row lock; returns the last one reserved. */
export const RESERVE_LOG_SEQS = `
  UPDATE runs SET log_seq = log_seq + $2 WHERE id = $1 RETURNING log_seq`;

/** $1 run, $2 attempt, $3 first seq, $4 json array of {stream, at, text} in order. */
export const INSERT_LOGS = `
  INSERT INTO run_logs (run_id, seq, attempt, stream, at, text)
  SELECT $1, $3::bigint + l.ord - 1, $2, l.item ->> 'stream', (l.item ->> 'at')::timestamptz, l.item ->> 'text'
  FROM jsonb_array_elements($4::text::jsonb) WITH ORDINALITY AS l(item, ord)`;

/** $1 run, $2 after seq, $3 limit. */
export const READ_LOGS = `
  SELECT seq, attempt, stream, at, text FROM run_logs
  WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`;

/** The last $2 lines, returned oldest first. */
export const TAIL_LOGS = `
  SELECT * FROM (
    SELECT seq, attempt, stream, at, text FROM run_logs WHERE run_id = $1 ORDER BY seq DESC LIMIT $2
  ) tail ORDER BY seq`;

// --- API tokens -----------------------------------------------------------------------------------

/** $1 id, $2 name, $3 role, $4 owner, $5 hash. */
export const INSERT_API_TOKEN = `
  INSERT INTO api_tokens (id, name, role, owner, token_hash) VALUES ($1, $2, $3, $4, $5)
  RETURNING ${TOKEN_COLUMNS}`;

/**
 * Finds a live token and, when its last use is over a minute old, records this use — one round
 * trip, and at most one write a minute per token however busy it is. $1 hash.
 */
export const FIND_API_TOKEN = `
  WITH found AS (
    SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
  ), touched AS (
    UPDATE api_tokens t SET last_used_at = now()
    FROM found
    WHERE t.id = found.id
      AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING t.id, t.last_used_at
  )
  SELECT found.id, found.name, found.role, found.owner, found.created_at, found.revoked_at,
         coalesce(touched.last_used_at, found.last_used_at) AS last_used_at
  FROM found LEFT JOIN touched ON touched.id = found.id`;

export const LIST_API_TOKENS = `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id`;

export const REVOKE_API_TOKEN = `
  UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id`;

/** All tokens ever made, revoked included: "none yet" means a first start. */
export const COUNT_API_TOKENS = `SELECT count(*) AS n FROM api_tokens`;

// --- run tokens -----------------------------------------------------------------------------------

/** $1 run, $2 attempt, $3 hash, $4 expires at. Replaces the run's previous token. */
export const UPSERT_RUN_TOKEN = `
  INSERT INTO run_tokens (run_id, attempt, token_hash, expires_at)
  SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1)
  ON CONFLICT (run_id) DO UPDATE
    SET attempt = excluded.attempt, token_hash = excluded.token_hash,
        expires_at = excluded.expires_at, used_at = NULL, created_at = now()
  RETURNING run_id`;

/** The token is valid: right hash, unused, unexpired, for the run's current attempt, run not ended.
 *  $1 run, $2 hash, $3 terminal states. */
const VALID_RUN_TOKEN = `
  t.run_id = $1 AND t.token_hash = $2 AND t.used_at IS NULL AND t.expires_at > now()
  AND r.id = t.run_id AND r.attempt = t.attempt AND NOT (r.state = ANY($3::text[]))`;

export const CHECK_RUN_TOKEN = `
  SELECT t.attempt FROM run_tokens t, runs r WHERE ${VALID_RUN_TOKEN}`;

/** Same check, and marks the token used in the same statement: two racing callers, one winner. */
export const CONSUME_RUN_TOKEN = `
  UPDATE run_tokens t SET used_at = now() FROM runs r WHERE ${VALID_RUN_TOKEN}
  RETURNING t.attempt`;

// --- finalizations and run outcomes (the Cloudemy API) -------------------------------------------

/** $1 run. */
export const SELECT_RUN_OWNER_STATE = `SELECT id, owner, state FROM runs WHERE id = $1`;

/** $1 owner. */
export const SELECT_FINALIZATION_OF_OWNER = `
  SELECT run_id, finalized_at FROM run_finalizations WHERE owner = $1`;

/** Inserts nothing when the run or the owner already has one (either unique key).
 *  $1 run, $2 owner, $3 note. */
export const INSERT_FINALIZATION = `
  INSERT INTO run_finalizations (run_id, owner, note) VALUES ($1, $2, $3)
  ON CONFLICT DO NOTHING
  RETURNING finalized_at`;

const RUN_COLUMNS_OF_R = RUN_COLUMNS.split(",")
  .map((c) => `r.${c.trim()}`)
  .join(", ");

/**
 * Runs with their outcome: finalized; else live until the run ends (a result posted just before
 * the runner exits does not end it); else the newest result's status decides (timeout and failed
 * statuses as listed, anything else completed); else a timed-out run is timeout, any other failed.
 * Each filter is skipped when its parameter is null.
 * $1 owner, $2 kind, $3 run id, $4 outcome, $5 live states, $6 timeout statuses, $7 failed statuses.
 */
const RUN_OUTCOMES_FROM = `
  FROM runs r
  LEFT JOIN run_finalizations f ON f.run_id = r.id
  LEFT JOIN LATERAL (
    SELECT status, score FROM results WHERE run_id = r.id ORDER BY attempt DESC LIMIT 1
  ) res ON true
  CROSS JOIN LATERAL (
    SELECT CASE
      WHEN f.run_id IS NOT NULL THEN 'finalized'
      WHEN r.state = ANY($5::text[]) THEN 'live'
      WHEN res.status = ANY($6::text[]) THEN 'timeout'
      WHEN res.status = ANY($7::text[]) THEN 'failed'
      WHEN res.status IS NOT NULL THEN 'completed'
      WHEN r.state = 'timed_out' THEN 'timeout'
      ELSE 'failed'
    END AS outcome
  ) o
  WHERE ($1::text IS NULL OR r.owner = $1)
    AND ($2::text IS NULL OR r.kind = $2)
    AND ($3::uuid IS NULL OR r.id = $3::uuid)
    AND ($4::text IS NULL OR o.outcome = $4)`;

/** Parameters as RUN_OUTCOMES_FROM. */
export const COUNT_RUN_OUTCOMES = `SELECT count(*) AS n ${RUN_OUTCOMES_FROM}`;

/** The same count without an outcome filter, which then needs no outcome. $1 owner, $2 kind, $3 run id. */
export const COUNT_RUNS_OF = `
  SELECT count(*) AS n FROM runs r
  WHERE ($1::text IS NULL OR r.owner = $1)
    AND ($2::text IS NULL OR r.kind = $2)
    AND ($3::uuid IS NULL OR r.id = $3::uuid)`;

/**
 * One page, newest first, with the workload's language (read only for the page's rows).
 * Parameters as RUN_OUTCOMES_FROM, then $8 page size, $9 offset.
 */
export const LIST_RUN_OUTCOMES = `
  SELECT page.*, w.spec #>> '{submission,language}' AS language
  FROM (
    SELECT ${RUN_COLUMNS_OF_R}, r.seq AS page_seq, o.outcome, res.status AS result_status,
           res.score AS result_score, f.finalized_at
    ${RUN_OUTCOMES_FROM}
    ORDER BY r.seq DESC
    LIMIT $8 OFFSET $9
  ) page
  JOIN workloads w ON w.id = page.workload_id
  ORDER BY page.page_seq DESC`;
