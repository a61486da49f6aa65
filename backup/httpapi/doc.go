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
//	GET  /healthz                 {"status": "ok"}, the only route without authentication
//
// Errors are {"error": code, "detail": message}, plus "job_id" on 409 busy.
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
//
// Restore drills (also GET|POST /v1/drills) are served when the Backend
// implements DrillRunner (*backup.Manager does); otherwise the list is empty
// so the admin page still loads, and POST answers 501.
//
// Errors are {"detail": "..."}; a start while busy is 409
// {"detail": "backup_job_already_running", "job_id": N}.
//
// # Input and errors
//
// Input is strict: unknown JSON fields, malformed JSON, trailing data, an
// oversized body (Options.MaxBodyBytes), a non-integer job id or limit are
// answered 4xx with a detail, and nothing changes. One function (classify)
// maps every error to its status; a 5xx never answers a client's mistake.
// Every route but /healthz needs "Authorization: Bearer <token>" (compared in
// constant time), or passes the embedding application's Options.Auth.
package httpapi
