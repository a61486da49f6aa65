// Package backup turns a Docker Compose project into a migration pack — the
// application's SQLite database, the project's named volumes and its images —
// on a verified mount. A backup either produces a complete pack or fails
// before harm, saying which step failed and why (ErrorCode, StepError):
//
//   - Plan resolves the stack by its compose labels, runs every precheck and
//     estimates each component's size, writing nothing.
//   - Run verifies and pins the target mount, checks free space on the
//     target, on local staging and under the engine's data root, then writes
//     <target>/.partial-migration_pack_<ts>.<owner>/ through the pinned
//     directory handle and renames it to migration_pack_<ts> only after every
//     file is written, checksummed while streaming and fsynced. On failure or
//     cancel the partial directory is removed and stopped services run again;
//     what a killed run leaves, the next one removes (Recover).
//
// # Package map
//
// Each package does one job; arrows point down only, from a layer to the
// ones below it (and, inside a layer, as the table says):
//
//	surfaces   cmd/dockpack · backup/httpapi (+ httpapi/adminsql) · backup/webhook · internal/metrics
//	             flags and config into library structs; HTTP (native, RagFlowAuth); news; Prometheus
//	daemon     backup/doctor · backup/jobs (+ jobs/internal/*) · backup/verifier
//	             the operator's checklist; jobs, the lease lock, schedules, recovery, drills and
//	             the records of live restores (jobs/internal: statedb, all SQL; lock; recovery;
//	             schedule); pack verifications in the background, under the jobs' lock
//	operations backup (Spec, Plan, Run) · backup/restore · backup/drill · backup/export
//	             make a pack; bring one back (a project, or the live database); prove one restorable;
//	             carry one (a self-contained classic pack from a store pack)
//	format     backup/pack · backup/prune · backup/settings · backup/consistency · backup/internal/precheck · backup/internal/packdir
//	             the on-disk pack (manifest, verify, list); prune (forget, then collect); the settings table; the
//	             service labels, presets, compose model and stop order a consistent pack follows;
//	             the prechecks Plan, Run and doctor share; the pinned write path
//	storage    backup/store · backup/storage (+ storage/local) · backup/seal
//	             the pack store (chunks, bundles, indexes, leases, GC); where objects live;
//	             sealing at rest (age, the store's naming key, no silent plaintext)
//	vocabulary backup/check · backup/progress          a verdict; a progress report
//	world      dockerapi · mountcheck · sqlitesnap      the Engine API; mounts; SQLite
//	helpers    internal/* · backup/internal/sentinel    anyone may import them
//
// The arrows, exactly (helpers left out; TestPackageMap holds the module to
// them, and fails on an import that is not listed here):
//
//	cmd/dockpack             → backup/httpapi backup/httpapi/adminsql backup/webhook internal/metrics backup/doctor backup/jobs backup/settings backup/restore backup/export backup backup/pack backup/prune backup/transfer backup/seal backup/storage/targets backup/storage/s3 backup/storage backup/check backup/progress dockerapi mountcheck
//	backup/httpapi           → backup/doctor backup/verifier backup/jobs backup/settings backup/restore backup/drill backup backup/pack backup/seal backup/check
//	backup/verifier          → backup/jobs backup/restore backup/transfer backup backup/pack backup/seal backup/storage/s3 backup/storage backup/check backup/progress
//	backup/webhook           → backup/jobs backup
//	internal/metrics         → backup/webhook backup/jobs backup backup/pack backup/progress
//	backup/doctor            → backup/jobs backup backup/internal/precheck backup/transfer backup/store backup/seal backup/storage/targets backup/storage/s3 backup/storage backup/storage/local backup/pack backup/check mountcheck
//	backup/jobs              → backup/jobs/internal/lock backup/jobs/internal/recovery backup/jobs/internal/schedule backup/jobs/internal/statedb backup/settings backup/restore backup/drill backup backup/transfer backup/pack backup/prune backup/seal backup/storage/s3 backup/storage backup/check backup/progress dockerapi mountcheck
//	backup/jobs/internal/lock → backup/jobs/internal/statedb backup
//	backup/jobs/internal/schedule → backup/settings
//	backup/jobs/internal/recovery → backup/jobs/internal/statedb backup/restore backup backup/internal/packdir backup/pack dockerapi
//	backup/export            → backup backup/internal/packdir backup/store backup/pack backup/seal backup/progress mountcheck
//	backup/drill             → backup backup/pack backup/seal backup/check backup/progress sqlitesnap
//	backup/restore           → backup/consistency backup backup/pack backup/seal backup/progress dockerapi mountcheck sqlitesnap
//	backup                   → backup/consistency backup/internal/precheck backup/internal/packdir backup/store backup/seal backup/storage/targets backup/storage/s3 backup/storage backup/storage/local backup/pack backup/check backup/progress dockerapi mountcheck sqlitesnap
//	backup/internal/precheck → backup/consistency backup/pack backup/check backup/storage backup/storage/s3 dockerapi mountcheck sqlitesnap
//	backup/settings          → backup/pack backup/storage
//	backup/consistency       → backup/pack dockerapi
//	backup/pack              → backup/store backup/seal backup/storage/local backup/check backup/progress mountcheck sqlitesnap
//	backup/prune             → backup/pack backup/store backup/storage/local mountcheck
//	backup/internal/packdir  → mountcheck
//	backup/store             → backup/seal backup/storage
//	backup/seal              → backup/storage
//	backup/storage/local     → backup/storage mountcheck
//	backup/storage/s3        → backup/storage
//	backup/storage/s3/s3test → backup/storage/s3
//	backup/storage/storagetest → backup/storage
//	backup/storage/targets   → backup/storage/local backup/storage/s3 backup/storage
//	backup/transfer          → backup/pack backup/prune backup/store backup/storage/local backup/storage backup/storage/targets backup/storage/s3
//
// Everything else imports only helpers. Test support — backup/backuptest
// (one fake engine, the demo stack), dockerapi/dockertest, internal/testapp
// and cmd/dockpack/testseams (only in a binary built with -tags
// dockpacktest) — may import anything and is imported by tests only.
package backup
