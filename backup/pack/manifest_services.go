package pack

import (
	"fmt"
	"path"
	"strings"
)

// Consistency is the manifest's account, per compose service, of how the
// pack was made consistent: the hooks that ran and what they said, the
// dumps, how each named volume of the compose model was captured (exported,
// covered by a dump, or excluded with a reason), the bind mounts captured,
// the order services were stopped in and the profiles in use.
type Consistency struct {
	// ComposeFiles are the compose files the model was read from; empty
	// when none was readable (ModelNote says why).
	ComposeFiles []string `json:"compose_files"`
	ModelNote    string   `json:"model_note,omitempty"`
	// Profiles are the compose profiles in use: those of the services that
	// have containers (compose v1 records none in labels).
	Profiles []string `json:"profiles"`
	// StopOrder lists the containers stopped around the volume step, in
	// the order they were stopped (dependents first); they were started in
	// the reverse order.
	StopOrder []string       `json:"stop_order"`
	Services  []ServiceEntry `json:"services"`
	Binds     []BindEntry    `json:"binds"`
}

// ServiceEntry is one compose service.
type ServiceEntry struct {
	Name       string   `json:"name"`
	Containers []string `json:"containers"`
	// Profiles are the service's compose profiles (empty: always active).
	Profiles []string `json:"profiles,omitempty"`
	// DependsOn are the services it depends on (compose depends_on).
	DependsOn []string `json:"depends_on,omitempty"`
	// Preset is its dockpack.preset label, when set.
	Preset string `json:"preset,omitempty"`
	// Stopped: its containers were stopped around the volume step.
	Stopped bool            `json:"stopped"`
	Volumes []ServiceVolume `json:"volumes"`
	Hooks   []HookRun       `json:"hooks"`
	Dump    *DumpEntry      `json:"dump,omitempty"`
}

// How a named volume of a service was captured (ServiceVolume.Capture).
const (
	CaptureVolume   = "volume"   // exported as volumes/<name>.tar
	CaptureDump     = "dump"     // excluded; the service's dump is its source of truth
	CaptureExcluded = "excluded" // excluded, with a reason
)

// ServiceVolume is one named volume a service mounts (or declares in the
// compose model).
type ServiceVolume struct {
	Name        string `json:"name"`          // on the engine
	Key         string `json:"key,omitempty"` // in the compose file
	Destination string `json:"destination,omitempty"`
	Capture     string `json:"capture"`
	// File is the volume's tar (capture volume) or the dump (capture dump).
	File   string `json:"file,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Hook phases and outcomes (HookRun.Phase, HookRun.Status).
const (
	PhasePreBackup  = "pre-backup"
	PhasePostBackup = "post-backup"

	HookOK       = "ok"        // exit 0
	HookFailed   = "failed"    // non-zero exit or no answer; on-error fail aborted the backup
	HookIgnored  = "continued" // failed, and on-error continue went on
	HookTimedOut = "timed_out" // killed at its timeout
	HookSkipped  = "skipped"   // not run: the container was not running
)

// HookRun is one hook as it ran.
type HookRun struct {
	Phase     string   `json:"phase"`
	Container string   `json:"container"`
	Command   []string `json:"command"`
	OnError   string   `json:"on_error"`
	TimeoutMS int64    `json:"timeout_ms"`
	Status    string   `json:"status"`
	// ExitCode is -1 when the command did not end by itself.
	ExitCode   int    `json:"exit_code"`
	StartedAt  string `json:"started_at"`
	DurationMS int64  `json:"duration_ms"`
	StdoutTail string `json:"stdout_tail"`
	StderrTail string `json:"stderr_tail"`
	Error      string `json:"error,omitempty"`
	KillNote   string `json:"kill_note,omitempty"`
}

// DumpEntry is a service's dump, stored as File (kind dump).
type DumpEntry struct {
	File      string   `json:"file"`
	Container string   `json:"container"`
	Command   []string `json:"command"`
	// RestoreCommand reads the dump back on stdin (dockpack restore
	// --dumps); empty when the service had no dockpack.restore-dump.
	RestoreCommand []string `json:"restore_command,omitempty"`
	// RestoreStops: the restore command stops the server so that it loads
	// the dump when it starts (redis, valkey): the restore starts it again.
	RestoreStops bool   `json:"restore_stops,omitempty"`
	Size         int64  `json:"size"`
	DurationMS   int64  `json:"duration_ms"`
	StderrTail   string `json:"stderr_tail,omitempty"`
}

// Bind types (BindEntry.Type).
const (
	BindFile = "file"
	BindDir  = "dir"
)

// BindEntry is a captured bind mount, stored as File (kind bind): a tar of
// the directory's content relative to its root, or of the one file under
// its base name.
type BindEntry struct {
	Service     string `json:"service"`
	Container   string `json:"container"`
	Source      string `json:"source"` // the host path
	Destination string `json:"destination"`
	Type        string `json:"type"`
	ReadOnly    bool   `json:"read_only"`
	Size        int64  `json:"size"` // bytes of file content
	File        string `json:"file"`
}

// validateConsistency checks the consistency section against the listed
// files: every dump and bind names a file of its kind, every file of kind
// dump or bind is described, and names are well formed.
func (m *Manifest) validateConsistency(files map[string]FileEntry, bad func(format string, a ...any)) {
	described := map[string]bool{}
	need := func(p string, kind FileKind, what string) {
		described[p] = true
		f, ok := files[p]
		switch {
		case !ok:
			bad("%s names file %q, which components does not list", what, p)
		case f.Kind != kind:
			bad("%s names file %q of kind %q, want %q", what, p, f.Kind, kind)
		}
	}
	if c := m.Consistency; c != nil {
		seen := map[string]bool{}
		for i, s := range c.Services {
			if s.Name == "" || seen[s.Name] {
				bad("consistency.services[%d]: name %q is empty or listed twice", i, s.Name)
			}
			seen[s.Name] = true
			if s.Dump != nil {
				need(s.Dump.File, FileDump, fmt.Sprintf("consistency.services[%d].dump (%s)", i, s.Name))
				if !strings.HasPrefix(s.Dump.File, DumpsDir+"/") {
					bad("consistency.services[%d].dump.file %q is not under %s/", i, s.Dump.File, DumpsDir)
				}
			}
			for j, v := range s.Volumes {
				switch v.Capture {
				case CaptureVolume, CaptureDump, CaptureExcluded:
				default:
					bad("consistency.services[%d].volumes[%d] (%s): unknown capture %q", i, j, v.Name, v.Capture)
				}
				if v.Capture == CaptureExcluded && v.Reason == "" {
					bad("consistency.services[%d].volumes[%d] (%s) is excluded without a reason", i, j, v.Name)
				}
			}
		}
		for i, b := range c.Binds {
			need(b.File, FileBind, fmt.Sprintf("consistency.binds[%d] (%s)", i, b.Source))
			if !strings.HasPrefix(b.File, BindsDir+"/") || path.Ext(b.File) != ".tar" {
				bad("consistency.binds[%d].file %q is not a tar under %s/", i, b.File, BindsDir)
			}
			if b.Type != BindFile && b.Type != BindDir {
				bad("consistency.binds[%d] (%s): unknown type %q", i, b.Source, b.Type)
			}
		}
	}
	for _, f := range m.Files {
		if (f.Kind == FileDump || f.Kind == FileBind) && !described[f.Path] {
			bad("components lists %s file %q that the consistency section does not describe", f.Kind, f.Path)
		}
	}
}

// Dump returns the dump of service, if the pack holds one.
func (c *Consistency) Dump(service string) (*DumpEntry, bool) {
	if c == nil {
		return nil, false
	}
	for _, s := range c.Services {
		if s.Name == service && s.Dump != nil {
			return s.Dump, true
		}
	}
	return nil, false
}

// dumpService names the service whose dump f is (else f's base name).
func dumpService(f FileEntry, m *Manifest) string {
	if m.Consistency != nil {
		for _, s := range m.Consistency.Services {
			if s.Dump != nil && s.Dump.File == m.PlainPath(f.Path) {
				return s.Name
			}
		}
	}
	base := path.Base(m.PlainPath(f.Path))
	return strings.TrimSuffix(base, path.Ext(base))
}
