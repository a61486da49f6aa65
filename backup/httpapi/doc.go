// Package httpapi is dockpack's HTTP surface as an http.Handler: the native
// JSON API under /v1 and the routes of RagFlowAuth's data-security page, so
// that its existing frontend can drive dockpack unchanged. The daemon
// (`dockpack serve`) serves it; an admin backend can mount it under its own
// prefix and behind its own authentication (see examples/embed).
//
// # Native API
//
//	POST /v1/backups              {"components": ["db","volumes","images"]} → 202 + job (409 + job_id when busy)
//	GET  /v1/jobs?limit=&status=  {"jobs": [...]}, newest first, limit 1–200 (clamped; default 30)
//	GET  /v1/jobs/{id}            job
//	POST /v1/jobs/{id}/cancel     {"reason": "..."} (optional) → job
//	GET  /v1/jobs/{id}/events     Server-Sent Events: "progress", "log", one "final"
//	GET  /v1/jobs/{id}/log        {"lines": [...]} (when the Backend implements JobLogger)
//	GET  /v1/packs                {"packs": [...]}
//	GET  /v1/settings             settings
//	PUT  /v1/settings             partial settings + "change_reason" → settings
//	GET  /v1/lock                 the lock lease (when the Backend implements LockReporter)
//	GET  /v1/schedule             the schedules (when the Backend implements ScheduleReporter)
//	POST /v1/restores             real restore of a job's database into the live path (LiveRestorer)
//	GET  /v1/restores             {"items": [...], "count": n}: the real restores, newest first
//	GET  /healthz                 {"status": "ok"}, the only route without authentication (with the admin page's files)
//
// Errors are {"error": code, "detail": message}, plus "job_id" on 409 busy.
//
// # The admin page
//
// The built-in admin page (ui.go) is served at /ui/ and uses, besides the
// routes above, these (registered when the Backend implements the named
// optional interface, or for a pack's verification and restore plan when
// Options.Verifier implements it: by default the Verifier of a
// *jobs.Manager Backend):
//
//	GET  /v1/doctor?lang=                    the doctor's report (DoctorRunner)
//	POST /v1/packs/{name}/verify             {"lang"} (optional) → 202 + the verification (409 + job_id while the lock is held)
//	GET  /v1/verifications                   {"verifications": [...]}: the running one and the last 20, newest first
//	GET  /v1/verifications/{id}              the verification, with its log and checks
//	GET  /v1/verifications/{id}/events       Server-Sent Events: "progress", one "final"
//	POST /v1/verifications/{id}/cancel       {"reason"} (optional) → the verification
//	GET  /v1/packs/{name}/restore-plan?project=&components=&sqlite_dest=&force=&stop_running=&lang=
//	                                         what a restore would do; nothing changes (RestorePlanner)
//	GET  /v1/settings/fields                 the editable settings' table and which are pinned
//	GET  /ui/, GET /ui/i18n/{lang}.json      the page and its messages (the catalogue's), without authentication
//
// # RagFlowAuth routes (under Options.CompatPrefix, default /api/admin/data-security)
//
//	POST /backup/run, /backup/run-full   {} → {"job_id": N}
//	GET  /backup/jobs?limit=30           {"jobs": [...]}
//	GET  /backup/jobs/{id}               job (404 {"detail": "job_not_found"})
//	POST /backup/jobs/{id}/cancel        {"reason"} (optional) → job
//	GET  /settings, PUT /settings        PUT requires "change_reason"
//	GET  /restore-drills?limit=30        {"items": [drill...], "count": n}, newest first
//	POST /restore-drills                 {job_id, backup_path, backup_hash, restore_target, verification_notes?} → drill
//	POST /restore/run                    {job_id, backup_path, backup_hash, change_reason, confirmation_text: "RESTORE"}
//	                                     → {job_id, live_auth_db_path, hash_match, compare_match, result, ...}
//
// Restore drills (also GET|POST /v1/drills) are served when the Backend
// implements DrillRunner (*jobs.Manager does); otherwise the list is empty
// so the admin page still loads, and POST answers 501. restore_target is
// free text (letters and digits of any script).
//
// These routes behave as RagFlowAuth's newest backend (branch 13485_latest):
// a start while a backup runs answers 200 with the running job's id (the
// page polls it; a lock held by a drill or a real restore is a 409 saying
// so); a start whose prechecks fail (target not mounted, database missing,
// project unknown) answers 400 before a job exists, with a sentence in
// Options.Lang as detail; run-full ignores full_backup_enabled (it only turns
// the schedule of full backups on); a job that has ended shows progress 100
// (the native API keeps the true value and bytes_done); RagFlowAuth's legacy
// settings (interval_minutes, target_ip, target_share_name, target_subdir,
// replica_enabled, replica_target_path, replica_subdir_format) are accepted
// and ignored, other unknown fields are 400.
//
// Errors are {"detail": "..."}: a code the page knows (job_not_found,
// admin_required, change_reason_required, ...), "code: why" for a refused
// restore, or a sentence.
//
// # Authentication
//
// Every route but /healthz and the admin page's files needs "Authorization:
// Bearer <token>": the daemon's token (compared in constant time), or —
// with Options.JWT — the application's own access token (RagFlowAuth's
// HS256 login token: signature, algorithm, exp and type "access" checked)
// of a user the application calls an administrator (Options.JWT.Admins, or
// a read-only query of its database: package adminsql); anyone else gets
// 403 admin_required. The token's subject becomes executed_by and
// verified_by. Options.Auth replaces both checks with the embedding
// application's middleware. Authentication comes before any routing: a
// path with . or .. segments is 401 without a valid token and 400 with one,
// never a redirect; a body announced larger than Options.MaxBodyBytes is
// 413 (401 first without a token), and unread bodies are drained (bounded)
// so the client reads the answer instead of a connection reset.
//
// # Input and errors
//
// Input is strict: unknown JSON fields, malformed JSON, trailing data, an
// oversized body (Options.MaxBodyBytes), a non-integer job id or limit are
// answered 4xx with a detail, and nothing changes. One function (classify)
// maps every error to its status; a 5xx never answers a client's mistake.
package httpapi
