-- Gantry's first schema: workloads, runs and their history, results, logs and tokens.
-- Migrations are numbered and forward-only: never edit one that has shipped; add the next number.
-- The state machine lives in src/core/run-state.ts; the CHECKs here only keep garbage out.

CREATE TABLE workloads (
  id uuid PRIMARY KEY,
  kind text NOT NULL,
  owner text NOT NULL,
  spec jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
  id uuid PRIMARY KEY,
  -- Insertion order: FIFO within a priority and the cursor of listRuns.
  seq bigserial NOT NULL UNIQUE,
  workload_id uuid NOT NULL REFERENCES workloads (id),
  kind text NOT NULL,
  owner text NOT NULL,
  state text NOT NULL CHECK (
    state IN ('queued', 'dispatching', 'pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled')
  ),
  attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  retry_base_delay_ms integer NOT NULL CHECK (retry_base_delay_ms >= 0),
  retry_max_delay_ms integer NOT NULL CHECK (retry_max_delay_ms >= 0),
  priority integer NOT NULL DEFAULT 0,
  reason text,
  exit_code integer,
  executor text,
  not_before timestamptz NOT NULL DEFAULT now(),
  -- Last seq handed out in run_logs; bumped under the row lock so log seqs are gap-free per run.
  log_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz
);

-- The claim query: queued runs by priority, FIFO within it. Partial, so it stays as small as the queue.
CREATE INDEX runs_claim_idx ON runs (priority DESC, seq) WHERE state = 'queued';
-- Active-run counts for the caps, and the reconciler's listLiveRuns.
CREATE INDEX runs_live_idx ON runs (owner, seq) WHERE state IN ('dispatching', 'pending', 'running');
-- listRuns filters, newest first.
CREATE INDEX runs_owner_seq_idx ON runs (owner, seq DESC);
CREATE INDEX runs_state_seq_idx ON runs (state, seq DESC);

CREATE TABLE run_events (
  seq bigserial PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES runs (id),
  attempt integer NOT NULL,
  from_state text,
  to_state text NOT NULL,
  reason text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_events_run_idx ON run_events (run_id, seq);

-- At most one result per attempt: the primary key is the guarantee.
CREATE TABLE results (
  run_id uuid NOT NULL REFERENCES runs (id),
  attempt integer NOT NULL,
  status text NOT NULL,
  score double precision,
  fail_tags jsonb NOT NULL DEFAULT '[]',
  feedback jsonb NOT NULL DEFAULT '[]',
  metrics jsonb NOT NULL DEFAULT '{}',
  artifacts jsonb NOT NULL DEFAULT '{}',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, attempt)
);

-- Archived and live log lines. Volume is bounded by the caller (the workload's outputBytes limit).
CREATE TABLE run_logs (
  run_id uuid NOT NULL REFERENCES runs (id),
  seq bigint NOT NULL,
  attempt integer NOT NULL,
  stream text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'system')),
  at timestamptz NOT NULL,
  text text NOT NULL,
  PRIMARY KEY (run_id, seq)
);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'submitter', 'viewer')),
  owner text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);

-- One result token per run, bound to the attempt it was issued for; setRunToken replaces it.
CREATE TABLE run_tokens (
  run_id uuid PRIMARY KEY REFERENCES runs (id),
  attempt integer NOT NULL,
  token_hash text NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
