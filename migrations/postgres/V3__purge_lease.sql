-- One row per cluster-wide job: the instance that holds it runs the job until expires_at (database clock,
-- epoch ms). A plain row rather than an advisory lock, so PostgreSQL-compatible distributed engines work too.
CREATE TABLE purge_lease (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
