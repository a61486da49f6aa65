// Package backup turns a Docker Compose project into a migration pack — the
// application's SQLite database, the project's named volumes and its images —
// on a verified mount, restores packs, and runs backups safely as jobs.
//
// A backup either produces a complete pack or fails before harm, saying which
// step failed and why:
//
//   - Plan resolves the stack by its compose labels, runs every precheck and
//     estimates the size of each component, writing nothing.
//   - Run verifies and pins the target mount, checks free space on the target,
//     on local staging and under the engine's data root, then builds the pack in
//     <target>/.partial-migration_pack_<ts>/ and renames it to
//     migration_pack_<ts> only after every file is written, checksummed while
//     streaming, fsynced and the mount pin re-checked. On failure or cancel the
//     partial directory is removed and stopped services run again.
//   - Verify re-checks a pack (manifest, checksums, archive structure, the
//     SQLite snapshot on local staging); Restore brings images, volumes and the
//     database back, under the same or a new project name; Prune applies
//     retention without ever deleting the newest complete pack.
//
// Manager is the job system around Run: a state DB (SQLite, WAL), a lease
// lock that expires by itself and is taken over from dead owners, recovery of
// interrupted jobs (partial directories removed, stopped containers started),
// a stall watchdog, schedules, settings and restore drills. backup/httpapi
// serves it over HTTP; Doctor checks everything a backup depends on.
//
// The pack layout and manifest are described in Manifest. Errors carry the
// failed step (StepError) and map to stable codes with ErrorCode.
package backup
