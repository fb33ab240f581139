-- One row per job shared by every process that opens this file: the process that holds it runs the job until
-- expires_at (epoch ms).
CREATE TABLE purge_lease (
    name       TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
