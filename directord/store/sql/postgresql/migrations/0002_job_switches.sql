-- A job switched off (or on again) from the command line (`directord job disable NAME`): kept
-- apart from the config's definitions, so a reload or a changed config does not undo it.
CREATE TABLE job_switches (
    job             text PRIMARY KEY,
    disabled        integer NOT NULL,
    updated         double precision NOT NULL
);
