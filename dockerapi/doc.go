// Package dockerapi is dockpack's only door to the Docker Engine: it is the
// one package that imports the Docker SDK (github.com/docker/docker/client),
// so a later move to another SDK touches nothing else.
//
// It resolves a Compose stack by label (never by container name), saves its
// images in one ImageSave stream that is validated while it is written,
// exports and imports named volumes through CopyFromContainer/CopyToContainer
// on containers that are never started, stops and restarts containers with an
// undo that survives a canceled context, and loads images back while parsing
// the engine's JSON message stream for errors.
//
// The Engine API answers HTTP 200 before it knows whether an export will
// succeed, so every stream this package hands out is checked by
// internal/tarcheck as it passes: a truncated or poisoned archive is reported
// as ErrImageSaveIncomplete or ErrVolumeExportIncomplete, never as a success.
//
// Measured on Engine 20.10 (graph-driver store), and different from what one
// might expect: a file that grows during CopyFromContainer is cut at the size
// the engine first saw, so the archive is well-formed but that file may be
// inconsistent (only a shrinking file breaks the archive) — stop the writers
// (backup.Spec.StopServices). While an archive of a container is streaming
// and its reader stalls, the engine keeps that container locked: inspecting it
// blocks until the stream ends. The engine gzips archive answers for clients
// that accept it; this package's client does not ask for gzip (it costs engine
// CPU and throughput on a local socket).
//
// Helper containers and images that this package creates carry the label
// dockpack.helper=1 and are removed before the call returns, with a fresh
// context even when the caller's context was canceled. No image is ever
// pulled: the engine may have no registry access at all.
package dockerapi
