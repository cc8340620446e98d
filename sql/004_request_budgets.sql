-- Request budgets shared by every worker process of a fleet (src/db/shared-budgets.ts): the rate
-- and 429 pauses of each budget, and the concurrency leases its requests hold. Times are the
-- database's clock, so the workers' clocks need not agree.

-- One row per platform budget (`zenodo:api`), and per host (`host:zenodo.org`) once it answered 429.
CREATE TABLE IF NOT EXISTS fileset_budget (
  budget       text PRIMARY KEY,
  -- no request of the budget starts before this (the rate: the last start + 60 s / per minute)
  next_start   timestamptz NOT NULL DEFAULT '-infinity',
  -- nor before this (the platform answered 429 with this Retry-After)
  paused_until timestamptz NOT NULL DEFAULT '-infinity'
);

-- Slot `slot` (0 ≤ slot < the budget's concurrency) is taken while its lease has not expired.
-- Holders renew their leases while their requests run; a killed holder's lease expires.
CREATE TABLE IF NOT EXISTS fileset_budget_lease (
  budget     text NOT NULL,
  slot       integer NOT NULL,
  holder     text NOT NULL,
  expires_at timestamptz NOT NULL,
  CONSTRAINT fileset_budget_lease_pkey PRIMARY KEY (budget, slot)
);
CREATE INDEX IF NOT EXISTS fileset_budget_lease_holder ON fileset_budget_lease (holder);
