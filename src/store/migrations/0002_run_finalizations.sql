-- A user's finalized run: the one submission they hand in (the Cloudemy API's `finalize`).
-- At most one per owner, enforced here so two racing finalizations cannot both win; a run is
-- finalized at most once (the primary key). Additive: nothing else reads or changes it.

CREATE TABLE run_finalizations (
  run_id uuid PRIMARY KEY REFERENCES runs (id),
  owner text NOT NULL UNIQUE,
  note text,
  finalized_at timestamptz NOT NULL DEFAULT now()
);
