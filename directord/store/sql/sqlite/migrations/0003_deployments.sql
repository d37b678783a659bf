-- Rendered configs, stored once by the checksum of their file set.
CREATE TABLE rendered_configs (
    checksum        TEXT PRIMARY KEY,
    files           TEXT NOT NULL,           -- JSON object: path -> content
    object_count    INTEGER NOT NULL,
    created         REAL NOT NULL,
    deployed        REAL                     -- when first deployed successfully, or NULL
) WITHOUT ROWID;

-- Every deployment attempt to Icinga 2.
CREATE TABLE deployments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    checksum        TEXT NOT NULL,
    package         TEXT NOT NULL,
    stage           TEXT,
    started         REAL NOT NULL,
    finished        REAL,
    ok              INTEGER,                 -- NULL while validating
    error           TEXT,                    -- the error lines of startup.log
    run_id          INTEGER
);
CREATE INDEX deployments_started ON deployments (started DESC);
