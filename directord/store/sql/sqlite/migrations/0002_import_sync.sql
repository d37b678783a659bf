-- Imported rows are stored once, by their own checksum, and shared between row sets.
CREATE TABLE import_rows (
    checksum        TEXT PRIMARY KEY,
    data            TEXT NOT NULL            -- the row's canonical JSON
) WITHOUT ROWID;

CREATE TABLE row_sets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    source          TEXT NOT NULL,
    checksum        TEXT NOT NULL,
    row_count       INTEGER NOT NULL,
    columns         TEXT NOT NULL,           -- JSON list
    created         REAL NOT NULL,
    run_id          INTEGER
);
CREATE INDEX row_sets_source ON row_sets (source, id DESC);

CREATE TABLE row_set_rows (
    row_set         INTEGER NOT NULL,
    key             TEXT NOT NULL,
    row             TEXT NOT NULL,           -- import_rows.checksum
    PRIMARY KEY (row_set, key)
) WITHOUT ROWID;

-- The desired Icinga 2 objects: flat properties (address, vars.os, groups) as JSON.
CREATE TABLE objects (
    type            TEXT NOT NULL,
    name            TEXT NOT NULL,
    properties      TEXT NOT NULL,
    rule            TEXT,                    -- the sync rule that created it
    created         REAL NOT NULL,
    updated         REAL NOT NULL,
    PRIMARY KEY (type, name)
) WITHOUT ROWID;

-- One entry per applied sync: its change set with before/after of every changed property.
CREATE TABLE activity (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created         REAL NOT NULL,
    rule            TEXT NOT NULL,
    run_id          INTEGER,
    created_count   INTEGER NOT NULL,
    modified_count  INTEGER NOT NULL,
    deleted_count   INTEGER NOT NULL,
    changes         TEXT NOT NULL            -- JSON list
);
CREATE INDEX activity_rule ON activity (rule, id DESC);
