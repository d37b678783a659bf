-- The process group a run's job spawned ("pgid:start time@host" of its leader, so a reused pid
-- or another host's pid is not mistaken): whoever records the run as interrupted (the next
-- daemon, a lease expiry) ends the group if it still lives on that host.
ALTER TABLE runs ADD COLUMN process_group text;
