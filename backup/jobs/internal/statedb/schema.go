package statedb

// migrations are the state DB's schema versions, applied in order; the DB's
// PRAGMA user_version is the number applied. Never edit a released entry:
// append a new one.
var migrations = []string{
	// 1: jobs, the lease lock, job log lines, stopped containers, settings.
	`
CREATE TABLE jobs (
	id                     INTEGER PRIMARY KEY AUTOINCREMENT,
	kind                   TEXT    NOT NULL,
	status                 TEXT    NOT NULL,
	progress               INTEGER NOT NULL DEFAULT 0,
	message                TEXT,
	detail                 TEXT,
	output_dir             TEXT,
	package_hash           TEXT,
	created_at_ms          INTEGER NOT NULL,
	started_at_ms          INTEGER,
	finished_at_ms         INTEGER,
	cancel_requested_at_ms INTEGER,
	cancel_reason          TEXT,
	canceled_at_ms         INTEGER,
	verification_status    TEXT    NOT NULL DEFAULT 'not_verified',
	verification_detail    TEXT,
	verified_by            TEXT,
	verified_at_ms         INTEGER,
	last_restore_drill_id  TEXT,
	project                TEXT    NOT NULL DEFAULT '',
	components             TEXT    NOT NULL DEFAULT '[]',
	trigger                TEXT    NOT NULL DEFAULT 'manual',
	step                   TEXT,
	bytes_done             INTEGER NOT NULL DEFAULT 0,
	bytes_total            INTEGER NOT NULL DEFAULT 0,
	error_code             TEXT,
	heartbeat_at_ms        INTEGER,
	pack_name              TEXT,
	target                 TEXT    NOT NULL DEFAULT '',
	partial_dirs           TEXT    NOT NULL DEFAULT '[]',
	owner_token            TEXT    NOT NULL DEFAULT '',
	owner_host             TEXT    NOT NULL DEFAULT '',
	owner_pid              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_status ON jobs(status, id);

CREATE TABLE backup_locks (
	name           TEXT PRIMARY KEY CHECK (name = 'backup'),
	owner_token    TEXT    NOT NULL,
	job_id         INTEGER NOT NULL,
	host           TEXT    NOT NULL,
	pid            INTEGER NOT NULL,
	proc_start     TEXT    NOT NULL,
	acquired_at_ms INTEGER NOT NULL,
	renewed_at_ms  INTEGER NOT NULL,
	expires_at_ms  INTEGER NOT NULL
);

CREATE TABLE job_events (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id   INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	at_ms    INTEGER NOT NULL,
	level    TEXT    NOT NULL,
	message  TEXT    NOT NULL
);
CREATE INDEX job_events_by_job ON job_events(job_id, id);

CREATE TABLE job_stopped_containers (
	job_id          INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	container_id    TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	recorded_at_ms  INTEGER NOT NULL,
	restarted_at_ms INTEGER,
	PRIMARY KEY (job_id, container_id)
);
CREATE INDEX job_stopped_pending ON job_stopped_containers(restarted_at_ms);

CREATE TABLE settings (
	key           TEXT PRIMARY KEY,
	value         TEXT    NOT NULL,
	updated_at_ms INTEGER NOT NULL
);

CREATE TABLE settings_changes (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms   INTEGER NOT NULL,
	fields  TEXT    NOT NULL,
	reason  TEXT    NOT NULL
);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`,
	// 2: restore drills (RagFlowAuth's admin page lists them; body is the drill JSON).
	`
CREATE TABLE restore_drills (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	drill_id          TEXT    NOT NULL UNIQUE,
	job_id            INTEGER NOT NULL,
	executed_at_ms    INTEGER NOT NULL,
	acceptance_status TEXT    NOT NULL,
	result            TEXT    NOT NULL,
	body              TEXT    NOT NULL
);
CREATE INDEX restore_drills_by_job ON restore_drills(job_id, id);
`,
	// 3: the pack a job is about to rename into place (recorded before the
	// rename, so recovery can tell a complete pack of a job that died).
	`
ALTER TABLE jobs ADD COLUMN pending_pack TEXT;
ALTER TABLE jobs ADD COLUMN pending_hash TEXT;
`,
	// 4: real restores of the live database (who, why, the hashes, the
	// containers stopped for it; body is the restore's JSON).
	`
CREATE TABLE live_restores (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	restore_id      TEXT    NOT NULL UNIQUE,
	job_id          INTEGER NOT NULL,
	status          TEXT    NOT NULL,
	executed_by     TEXT    NOT NULL,
	change_reason   TEXT    NOT NULL,
	executed_at_ms  INTEGER NOT NULL,
	finished_at_ms  INTEGER,
	source_hash     TEXT    NOT NULL DEFAULT '',
	live_hash       TEXT,
	before_hash     TEXT,
	before_path     TEXT,
	lease_token     TEXT    NOT NULL DEFAULT '',
	stopped         TEXT    NOT NULL DEFAULT '[]',
	restarted_at_ms INTEGER,
	body            TEXT    NOT NULL
);
CREATE INDEX live_restores_by_status ON live_restores(status, id);
`,
	// 5: what a store backup read, added and reused per component (JSON
	// of backup.StoreStats; NULL for classic backups).
	`
ALTER TABLE jobs ADD COLUMN store_stats TEXT;
`,
	// 6: whether a completed backup's pack is sealed and to whom (JSON of
	// jobs.Encryption; NULL: the job did not complete, or ended before
	// this column existed).
	`
ALTER TABLE jobs ADD COLUMN encryption TEXT;
`,
}

// SchemaVersion is the state DB schema version this build writes.
func SchemaVersion() int { return len(migrations) }
