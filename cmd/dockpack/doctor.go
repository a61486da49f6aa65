package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
)

func init() { register(newDoctorCmd) }

// doctorFlags are doctor's own flags (the mount policy flags are shared).
type doctorFlags struct {
	project, target, sqlite, staging string
	noImages, noVolumes              bool
	stateDir                         string
	daemon, tokenFile                string
	jobs                             int
	partialStale, timeout            time.Duration
	brief, jsonOut                   bool
	pol                              policyFlags
}

func (f *doctorFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.project, "project", envOr("DOCKPACK_PROJECT", ""), "compose project to check (default: the daemon's setting) ($DOCKPACK_PROJECT)")
	fs.StringVar(&f.target, "target", envOr("DOCKPACK_TARGET", ""), "target directory to check (default: the daemon's setting) ($DOCKPACK_TARGET)")
	fs.StringVar(&f.sqlite, "sqlite", envOr("DOCKPACK_SQLITE", ""), "the application's SQLite database (default: the daemon's setting) ($DOCKPACK_SQLITE)")
	fs.StringVar(&f.staging, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local staging directory (default the system temp dir) ($DOCKPACK_STAGING_DIR)")
	fs.BoolVar(&f.noImages, "no-images", false, "backups leave the images out (no data-root space needed)")
	fs.BoolVar(&f.noVolumes, "no-volumes", false, "backups leave the named volumes out")
	fs.StringVar(&f.stateDir, "state-dir", envOr("DOCKPACK_STATE_DIR", ""), "read the lock, the jobs and the settings from this daemon state dir, read-only (default "+defaultStateDir+" when it holds a state DB) ($DOCKPACK_STATE_DIR)")
	fs.StringVar(&f.daemon, "daemon", envOr("DOCKPACK_DAEMON", ""), "read the lock, the jobs and the settings from a running daemon, e.g. http://127.0.0.1:8420 ($DOCKPACK_DAEMON)")
	fs.StringVar(&f.tokenFile, "token-file", envOr("DOCKPACK_TOKEN_FILE", ""), "the daemon's bearer token file (default $DOCKPACK_TOKEN, else <state-dir>/token) ($DOCKPACK_TOKEN_FILE)")
	fs.IntVar(&f.jobs, "jobs", 5, "how many recent jobs to show")
	fs.DurationVar(&f.partialStale, "partial-stale-after", time.Hour, "a .partial-* pack directory older than this is a leftover")
	fs.DurationVar(&f.timeout, "check-timeout", 30*time.Second, "time limit of each check (a hung mount or engine)")
	fs.BoolVar(&f.brief, "brief", false, "one line per check, no evidence")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	f.pol.bind(fs)
}

func newDoctorCmd(g *globals) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor [flags]",
		Short: "Check everything a backup depends on and say what to fix",
		Long: `Check, where dockpack runs (on the host or inside its container), everything a backup
depends on, each with a verdict (ok / warn / fail), the evidence and the fix:

  target     the target mount: filesystem type, not the root filesystem, expected mount
             point, read-only, free space against the packDir estimate, a write probe
  root-fs    free space on the root filesystem
  staging    the staging directory: exists, writable, room for the SQLite snapshot
  sqlite     the application's database: readable, a WAL database's directory writable
  engine     the Docker Engine: reachable, version, API, image store
  data-root  free space under the engine's data root (a graph-driver engine stages
             the whole image export there)
  stack      the compose project: containers, images, volumes; warns about anonymous
             volumes, bind mounts, untagged images and stopped containers
  lock       the backup lock: free, held (job, host, pid, lease time left) or stale
  jobs       the last jobs and their errors
  packs      complete and invalid packs, partial directories and their age

The lock, the jobs and the daemon's settings (project, target, database) come from the
state DB opened read-only (--state-dir; default /var/lib/dockpack when it holds a
state DB) or from a running daemon (--daemon URL with --token-file). Without either,
those checks are skipped. Nothing is changed but a probe file created and removed on
the target and in the staging directory.

Exit codes: 0 all ok, 6 the worst verdict is a warning, 1 a check failed, 2 usage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lang, ok := i18n.Normalize(g.lang)
			if !ok {
				return usageError{fmt.Errorf("--lang %q: want one of %s", g.lang, strings.Join(i18n.Supported(), ", "))}
			}
			ctx := cmd.Context()
			opts, cleanup, err := f.options(ctx, g, lang, cmd.Flags().Changed("state-dir"))
			if err != nil {
				return err
			}
			defer cleanup()
			rep, err := doctor.Run(ctx, opts)
			if err != nil {
				return usageError{err}
			}
			out := cmd.OutOrStdout()
			if f.jsonOut {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printDoctor(out, rep, f.brief)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			switch rep.Verdict {
			case doctor.VerdictFail:
				return exitStatus(exitFailure)
			case doctor.VerdictWarn:
				return exitStatus(exitWarn)
			}
			return nil
		},
	}
	f.bind(cmd.Flags())
	return cmd
}

// options builds the library's options: flags first, then the daemon's
// settings (from --daemon or the state DB) for what the flags leave out.
func (f *doctorFlags) options(ctx context.Context, g *globals, lang string, stateDirFlag bool) (doctor.Options, func(), error) {
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	o := doctor.Options{
		Project: f.project, Target: f.target, SQLitePath: f.sqlite, StagingDir: f.staging,
		Policy: f.pol.policy(), Lang: lang, Jobs: f.jobs, PartialStaleAfter: f.partialStale, CheckTimeout: f.timeout,
	}
	if f.jobs < 1 || f.jobs > 200 {
		return o, cleanup, usageError{fmt.Errorf("--jobs %d: want 1 to 200", f.jobs)}
	}

	// Where the lock, the jobs and the settings come from.
	var settings func(context.Context) (jobs.Settings, error)
	switch {
	case f.daemon != "":
		dc, err := newDaemonClient(f.daemon, f.tokenFile, f.stateDir)
		if err != nil {
			return o, cleanup, usageError{err}
		}
		o.State, o.StateDesc, settings = dc, "daemon "+dc.base, dc.Settings
	default:
		dir := f.stateDir
		if dir == "" {
			if _, err := os.Stat(filepath.Join(defaultStateDir, jobs.StateDBFile)); err == nil {
				dir = defaultStateDir
			}
		}
		if dir == "" {
			break
		}
		sr, err := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{})
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist) && stateDirFlag:
			return o, cleanup, usageError{err}
		case err != nil && errors.Is(err, fs.ErrNotExist):
			o.StateDesc = filepath.Join(dir, jobs.StateDBFile) // reported as not there
		case err != nil:
			o.State, o.StateDesc = brokenState{err}, "state DB "+filepath.Join(dir, jobs.StateDBFile)
		}
		if err != nil {
			break
		}
		closers = append(closers, func() { sr.Close() })
		o.State, o.StateDesc, settings = sr, "state DB "+sr.Path(), sr.Settings
	}
	if settings != nil && (o.Project == "" || o.Target == "" || o.SQLitePath == "") {
		if s, err := settings(ctx); err == nil {
			if o.Project == "" {
				o.Project = s.RagflowProjectName
				if o.Project == "" {
					o.Project = jobs.ComposeProjectName(s.RagflowComposePath)
				}
			}
			if o.Target == "" {
				o.Target = s.TargetLocalDir
			}
			if o.SQLitePath == "" {
				o.SQLitePath = s.AuthDBPath
			}
		} else {
			g.logger.Warn("cannot read the daemon's settings: give --project, --target and --sqlite")
		}
	}
	comps := []pack.Component{}
	if o.SQLitePath != "" {
		comps = append(comps, pack.ComponentDB)
	}
	if !f.noVolumes {
		comps = append(comps, pack.ComponentVolumes)
	}
	if !f.noImages {
		comps = append(comps, pack.ComponentImages)
	}
	o.Components = comps

	// The engine: an unreachable one is a finding, not an error.
	ectx, cancel := context.WithTimeout(ctx, f.timeout)
	eng, err := g.openEngine(ectx)
	cancel()
	if err != nil {
		o.Engine = unreachableEngine{err}
	} else {
		closers = append(closers, func() { eng.Close() })
		o.Engine = eng
	}
	return o, cleanup, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// unreachableEngine stands for an engine that could not be reached, so the
// engine check reports why (and plan's engine precheck fails with it).
type unreachableEngine struct{ err error }

func (u unreachableEngine) Info(context.Context) (dockerapi.EngineInfo, error) {
	return dockerapi.EngineInfo{}, u.err
}

func (u unreachableEngine) ResolveStack(context.Context, string) (dockerapi.Stack, error) {
	return dockerapi.Stack{}, u.err
}

func (u unreachableEngine) ImagesUniqueBytes(context.Context, []dockerapi.Image) (int64, error) {
	return 0, u.err
}

func (u unreachableEngine) SaveImages(context.Context, []string, io.Writer) (dockerapi.SaveResult, error) {
	return dockerapi.SaveResult{}, u.err
}

func (u unreachableEngine) ExportVolume(context.Context, dockerapi.Stack, string, io.Writer) (dockerapi.ExportResult, error) {
	return dockerapi.ExportResult{}, u.err
}

func (u unreachableEngine) StopContainers(context.Context, []string, time.Duration) (func() error, error) {
	return nil, u.err
}

// brokenState reports a state DB that exists but cannot be read.
type brokenState struct{ err error }

func (b brokenState) Lock(context.Context) (jobs.LockInfo, error) { return jobs.LockInfo{}, b.err }
func (b brokenState) List(context.Context, jobs.ListOptions) ([]jobs.Job, error) {
	return nil, b.err
}

// daemonClient reads the lock, jobs and settings from a daemon's native API.
type daemonClient struct {
	base  string
	token string
	hc    *http.Client
}

func newDaemonClient(base, tokenFile, stateDir string) (*daemonClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--daemon %q: want http://host:port (the daemon's --listen address)", base)
	}
	tok := strings.TrimSpace(os.Getenv("DOCKPACK_TOKEN"))
	if tokenFile == "" && tok == "" {
		tokenFile = filepath.Join(firstNonEmpty(stateDir, defaultStateDir), tokenFileName)
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("read the daemon's token: %w (give --token-file or $DOCKPACK_TOKEN)", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if len(tok) < httpapi.MinTokenLength {
		return nil, fmt.Errorf("the daemon's token is shorter than %d characters: check --token-file / $DOCKPACK_TOKEN", httpapi.MinTokenLength)
	}
	return &daemonClient{base: strings.TrimSuffix(base, "/"), token: tok, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (d *daemonClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("daemon %s: %w", d.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("daemon %s: GET %s: %w", d.base, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("daemon %s: GET %s: %s: %s", d.base, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("daemon %s: GET %s: %w", d.base, path, err)
	}
	return nil
}

func (d *daemonClient) Lock(ctx context.Context) (jobs.LockInfo, error) {
	var l jobs.LockInfo
	err := d.get(ctx, "/v1/lock", &l)
	return l, err
}

func (d *daemonClient) List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error) {
	var out struct {
		Jobs []jobs.Job `json:"jobs"`
	}
	err := d.get(ctx, "/v1/jobs?limit="+strconv.Itoa(o.Limit), &out)
	return out.Jobs, err
}

func (d *daemonClient) Settings(ctx context.Context) (jobs.Settings, error) {
	var s jobs.Settings
	err := d.get(ctx, "/v1/settings", &s)
	return s, err
}

// printDoctor writes the report for people, in its language.
func printDoctor(w io.Writer, rep *doctor.Report, brief bool) {
	p := i18n.For(rep.Lang)
	fmt.Fprintln(w, p.T("doctor.header", rep.Host, rep.At.Local().Format("2006-01-02 15:04:05 MST")))
	fmt.Fprintln(w)
	titleW, tagW := 0, 0
	for _, c := range rep.Checks {
		titleW = max(titleW, textWidth(c.Title))
		tagW = max(tagW, textWidth(verdictTag(p, c.Verdict)))
	}
	counts := map[doctor.Verdict]int{}
	for _, c := range rep.Checks {
		counts[c.Verdict]++
		tag := padRight(verdictTag(p, c.Verdict), tagW)
		fmt.Fprintf(w, "%s %s  %s\n", tag, padRight(c.Title, titleW), c.Summary)
		if brief {
			continue
		}
		indent := strings.Repeat(" ", textWidth(tag)+1)
		labelW := 0
		for _, e := range c.Evidence {
			labelW = max(labelW, textWidth(e.Label))
		}
		for _, e := range c.Evidence {
			fmt.Fprintf(w, "%s%s  %s\n", indent, padRight(e.Label, labelW), e.Value)
		}
		if c.Verdict == doctor.VerdictWarn || c.Verdict == doctor.VerdictFail {
			fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.code"), c.Code)
			if c.Detail != "" {
				fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.detail"), c.Detail)
			}
			if c.Fix != "" {
				fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.fix"), c.Fix)
			}
		}
		if len(c.Evidence) > 0 || c.Verdict == doctor.VerdictWarn || c.Verdict == doctor.VerdictFail {
			fmt.Fprintln(w)
		}
	}
	if brief {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, p.T("doctor.footer", verdictTag(p, rep.Verdict), counts[doctor.VerdictOK], counts[doctor.VerdictWarn],
		counts[doctor.VerdictFail], counts[doctor.VerdictSkip]))
}

func verdictTag(p i18n.Printer, v doctor.Verdict) string {
	return "[" + p.T("doctor.verdict."+string(v)) + "]"
}

// textWidth is the width of s on a terminal: East Asian wide characters
// take two columns.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		if isWide(r) {
			n++
		}
	}
	return n
}

func isWide(r rune) bool {
	switch {
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
		return true
	}
	return false
}

func padRight(s string, width int) string {
	if n := textWidth(s); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}
