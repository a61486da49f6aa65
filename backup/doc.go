// Package backup turns a Docker Compose project into a migration pack — the
// application's SQLite database, the project's named volumes and its images —
// on a verified mount, and (with the job system) runs such backups safely
// from a daemon.
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
//
// The pack layout and manifest are described in Manifest.
package backup
