package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dockpack/dockpack/backup/check"
	"github.com/dockpack/dockpack/backup/doctor"
	"github.com/dockpack/dockpack/backup/httpapi"
	"github.com/dockpack/dockpack/backup/jobs"
	"github.com/dockpack/dockpack/backup/pack"
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
	ageIdentities                    []string
	pol                              policyFlags
	s3                               s3Flags
}

func (f *doctorFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.project, "project", envOr("DOCKPACK_PROJECT", ""), "compose project to check (default: the daemon's setting) ($DOCKPACK_PROJECT)")
	fs.StringVar(&f.target, "target", envOr("DOCKPACK_TARGET", ""), "target directory or s3://bucket/prefix to check (default: the daemon's setting) ($DOCKPACK_TARGET)")
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
	fs.StringArrayVar(&f.ageIdentities, "age-identity", splitEnv("DOCKPACK_AGE_IDENTITY"),
		"the age identity file this machine restores with: does it open the target's sealed packs? (default: the daemon's setting age_identity_file); repeatable ($DOCKPACK_AGE_IDENTITY)")
	f.pol.bind(fs)
	f.s3.bind(fs)
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
  compose    the compose model against the pack: every named volume of the services in
             use exported, covered by a dump or excluded; hooks, dumps, bind mounts
             captured, the order services stop in
  lock       the backup lock: free, held (job, host, pid, lease time left) or stale
  jobs       the last jobs and their errors
  packs      complete and invalid packs, partial directories and their age
  store      the target's pack store: config, leases, index against bundles and packs
  encryption sealed packs the identity given (--age-identity, the daemon's
             age_identity_file) cannot open; plaintext packs in a target the daemon's
             settings seal (age_recipients_file, require_encryption)

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
			case check.Fail:
				return exitStatus(exitFailure)
			case check.Warn:
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
		Policy: f.pol.policy(), S3: f.s3.options(), Lang: lang, Jobs: f.jobs, PartialStaleAfter: f.partialStale, CheckTimeout: f.timeout,
		AgeIdentityFiles: f.ageIdentities,
	}
	if f.jobs < 1 || f.jobs > 200 {
		return o, cleanup, usageError{fmt.Errorf("--jobs %d: want 1 to 200", f.jobs)}
	}
	settings, closeState, err := f.state(ctx, &o, stateDirFlag)
	if err != nil {
		return o, cleanup, err
	}
	if closeState != nil {
		closers = append(closers, closeState)
	}
	if settings != nil { // the encryption settings have no flag of their own: always read
		if s, err := settings(ctx); err == nil {
			fillFromSettings(&o, s)
		} else if o.Project == "" || o.Target == "" || o.SQLitePath == "" {
			g.logger.Warn("cannot read the daemon's settings: give --project, --target and --sqlite")
		}
	}
	o.Components = f.components(o.SQLitePath != "")

	// The engine: an unreachable one is a finding, not an error.
	ectx, cancel := context.WithTimeout(ctx, f.timeout)
	eng, err := g.openEngine(ectx)
	cancel()
	if err != nil {
		o.EngineErr = err
	} else {
		closers = append(closers, func() { eng.Close() })
		o.Engine = eng
	}
	return o, cleanup, nil
}

// state sets where the lock and the jobs come from — a daemon (--daemon)
// or a state DB opened read-only (--state-dir, or the default one when it
// exists) — and returns how to read the settings there and how to close it.
func (f *doctorFlags) state(ctx context.Context, o *doctor.Options, stateDirFlag bool) (func(context.Context) (settings.Settings, error), func(), error) {
	if f.daemon != "" {
		dc, err := newDaemonClient(f.daemon, f.tokenFile, f.stateDir)
		if err != nil {
			return nil, nil, usageError{err}
		}
		o.State, o.StateDesc = dc, "daemon "+dc.BaseURL()
		return dc.Settings, nil, nil
	}
	dir := f.stateDir
	if dir == "" {
		if _, err := os.Stat(filepath.Join(defaultStateDir, jobs.StateDBFile)); err == nil {
			dir = defaultStateDir
		}
	}
	if dir == "" {
		return nil, nil, nil
	}
	sr, err := jobs.OpenStateReader(ctx, dir, jobs.StateReaderOptions{})
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist) && stateDirFlag:
		return nil, nil, usageError{err}
	case err != nil && errors.Is(err, fs.ErrNotExist):
		o.StateDesc = filepath.Join(dir, jobs.StateDBFile) // reported as not there
		return nil, nil, nil
	case err != nil:
		o.StateErr, o.StateDesc = err, "state DB "+filepath.Join(dir, jobs.StateDBFile)
		return nil, nil, nil
	}
	o.State, o.StateDesc = sr, "state DB "+sr.Path()
	return sr.Settings, func() { sr.Close() }, nil
}

// fillFromSettings takes the project, target and database the flags left
// out from the daemon's settings, and its encryption settings (the
// identity only when --age-identity is not given).
func fillFromSettings(o *doctor.Options, s settings.Settings) {
	if o.Project == "" {
		o.Project = s.RagflowProjectName
		if o.Project == "" {
			o.Project = settings.ComposeProjectName(s.RagflowComposePath)
		}
	}
	if o.Target == "" {
		o.Target = s.TargetLocalDir
	}
	if o.SQLitePath == "" {
		o.SQLitePath = s.AuthDBPath
	}
	if len(o.AgeIdentityFiles) == 0 && s.AgeIdentityFile != "" {
		o.AgeIdentityFiles = []string{s.AgeIdentityFile}
	}
	if s.AgeRecipientsFile != "" {
		o.AgeRecipientsFiles = []string{s.AgeRecipientsFile}
	}
	o.RequireEncryption = s.RequireEncryption
}

// components are what the backups include, as the flags say.
func (f *doctorFlags) components(db bool) []pack.Component {
	comps := []pack.Component{}
	if db {
		comps = append(comps, pack.ComponentDB)
	}
	if !f.noVolumes {
		comps = append(comps, pack.ComponentVolumes)
	}
	if !f.noImages {
		comps = append(comps, pack.ComponentImages)
	}
	return comps
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// newDaemonClient is the client of the daemon at base (--daemon), with its
// token from tokenFile, else $DOCKPACK_TOKEN, else <state dir>/token.
func newDaemonClient(base, tokenFile, stateDir string) (*httpapi.Client, error) {
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
	c, err := httpapi.NewClient(base, tok)
	if err != nil {
		return nil, fmt.Errorf("%w; check --daemon and --token-file / $DOCKPACK_TOKEN", err)
	}
	return c, nil
}

// printDoctor writes the report for people, in its language.
func printDoctor(w io.Writer, rep *doctor.Report, brief bool) {
	p := i18n.For(rep.Lang)
	fmt.Fprintln(w, p.T("doctor.header", rep.Host, rep.At.Local().Format("2006-01-02 15:04:05 MST")))
	fmt.Fprintln(w)
	titleW, tagW := 0, 0
	for _, c := range rep.Checks {
		titleW = max(titleW, textWidth(c.Title))
		tagW = max(tagW, textWidth(verdictTag(p, c.Status)))
	}
	counts := map[check.Status]int{}
	for _, c := range rep.Checks {
		counts[c.Status]++
		tag := padRight(verdictTag(p, c.Status), tagW)
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
		if c.Status == check.Warn || c.Status == check.Fail {
			fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.code"), c.Code)
			if c.Detail != "" {
				fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.detail"), c.Detail)
			}
			if c.Fix != "" {
				fmt.Fprintf(w, "%s%s %s\n", indent, p.T("doctor.fix"), c.Fix)
			}
		}
		if len(c.Evidence) > 0 || c.Status == check.Warn || c.Status == check.Fail {
			fmt.Fprintln(w)
		}
	}
	if brief {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, p.T("doctor.footer", verdictTag(p, rep.Verdict), counts[check.OK], counts[check.Warn],
		counts[check.Fail], counts[check.Skip]))
}

func verdictTag(p i18n.Printer, v check.Status) string {
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
