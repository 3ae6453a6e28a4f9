-- Run history of postdeploy (`--history`). Same shape as the SQLite
-- migration of the same version; only the id column's type differs.
CREATE TABLE runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    scope         TEXT NOT NULL,
    target        TEXT NOT NULL,
    env           TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT NOT NULL,
    duration_s    DOUBLE PRECISION NOT NULL,
    git_commit    TEXT,
    deploy_id     TEXT,
    run_url       TEXT,
    tool_version  TEXT NOT NULL,
    stopped_by    TEXT NOT NULL,
    passed        BOOLEAN NOT NULL,
    regressed     BOOLEAN NOT NULL,
    accepted      BOOLEAN NOT NULL,
    meta          TEXT NOT NULL
);
CREATE INDEX runs_by_fingerprint ON runs (kind, fingerprint, started_at);
CREATE INDEX runs_by_commit ON runs (git_commit);
CREATE INDEX runs_by_deploy ON runs (deploy_id);

CREATE TABLE run_requests (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    count       BIGINT NOT NULL,
    failed      BIGINT NOT NULL,
    errors      TEXT NOT NULL,
    p50_ms      DOUBLE PRECISION,
    p95_ms      DOUBLE PRECISION,
    p99_ms      DOUBLE PRECISION,
    histogram   TEXT NOT NULL,
    block_secs  INTEGER NOT NULL,
    blocks      TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE verify_steps (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    scenario    TEXT NOT NULL,
    name        TEXT NOT NULL,
    latency_ms  DOUBLE PRECISION,
    budget_ms   DOUBLE PRECISION,
    verdict     TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
