package main

import (
	"fmt"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/mountcheck"
)

// policyFlags are the target-mount flags shared by backup, plan and doctor.
type policyFlags struct {
	fstypes      string
	anyFSType    bool
	allowRootFS  bool
	expectMount  string
	probeTimeout time.Duration
}

func (p *policyFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&p.fstypes, "fstype", envOr("DOCKPACK_FSTYPE", "cifs,smb3"), "filesystem types the target may be on, comma-separated ($DOCKPACK_FSTYPE)")
	fs.BoolVar(&p.anyFSType, "any-fstype", envOr("DOCKPACK_ANY_FSTYPE", "") == "1", "accept the target on any filesystem type ($DOCKPACK_ANY_FSTYPE=1)")
	fs.BoolVar(&p.allowRootFS, "allow-root-fs", envOr("DOCKPACK_ALLOW_ROOT_FS", "") == "1", "accept a target on the root filesystem, i.e. not a mounted share ($DOCKPACK_ALLOW_ROOT_FS=1)")
	fs.StringVar(&p.expectMount, "expect-mount", envOr("DOCKPACK_EXPECT_MOUNT", ""), "the target must be on exactly this mount point, e.g. /mnt/replica ($DOCKPACK_EXPECT_MOUNT)")
	fs.DurationVar(&p.probeTimeout, "probe-timeout", 10*time.Second, "how long the target's write probe may take before the mount counts as hung")
}

func (p *policyFlags) policy() mountcheck.Policy {
	var types []string
	for _, t := range strings.Split(p.fstypes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			types = append(types, t)
		}
	}
	return mountcheck.Policy{
		FSTypes:            types,
		AnyFSType:          p.anyFSType,
		AllowRootFS:        p.allowRootFS,
		ExpectedMountPoint: p.expectMount,
		ProbeTimeout:       p.probeTimeout,
	}
}

// specFlags are the flags describing what to back up (backup and plan).
type specFlags struct {
	project    string
	target     string
	sqlite     string
	noImages   bool
	noVolumes  bool
	stop       []string
	stopAll    bool
	stopApps   []string
	strict     bool
	bindMax    string
	staging    string
	stopTimout time.Duration
	packMode   string
	format     string
	lockWait   time.Duration
	pol        policyFlags
	s3         s3Flags
}

func (s *specFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&s.project, "project", envOr("DOCKPACK_PROJECT", ""), "compose project name (label com.docker.compose.project) ($DOCKPACK_PROJECT)")
	fs.StringVar(&s.target, "target", envOr("DOCKPACK_TARGET", ""), "directory on the mounted share that receives packs, or s3://bucket/prefix ($DOCKPACK_TARGET)")
	fs.StringVar(&s.sqlite, "sqlite", envOr("DOCKPACK_SQLITE", ""), "the application's SQLite database to snapshot ($DOCKPACK_SQLITE)")
	fs.BoolVar(&s.noImages, "no-images", false, "leave the images out")
	fs.BoolVar(&s.noVolumes, "no-volumes", false, "leave the named volumes out")
	fs.StringArrayVar(&s.stop, "stop", nil, "compose service to stop during the volume step (repeatable)")
	fs.BoolVar(&s.stopAll, "stop-all", false, "stop every running service of the project during the volume step")
	fs.StringArrayVar(&s.stopApps, "stop-app", nil, "compose service to stop during the volume step with every service that depends on it, dependents first (repeatable)")
	fs.BoolVar(&s.strict, "strict", false, "refuse a pack that leaves out any mount: bind mounts not captured, anonymous volumes")
	fs.StringVar(&s.bindMax, "bind-max-size", envOr("DOCKPACK_BIND_MAX_SIZE", "64MiB"), "largest bind-mounted file or directory of the compose file captured into the pack (binds/) ($DOCKPACK_BIND_MAX_SIZE)")
	fs.StringVar(&s.staging, "staging-dir", envOr("DOCKPACK_STAGING_DIR", ""), "local scratch directory for the SQLite snapshot (default the system temp dir) ($DOCKPACK_STAGING_DIR)")
	fs.StringVar(&s.packMode, "pack-mode", envOr("DOCKPACK_PACK_MODE", ""), "mode of the pack's files: 0600 (default), 0640 or 0644; directories get the same read bits ($DOCKPACK_PACK_MODE)")
	fs.DurationVar(&s.stopTimout, "stop-timeout", 30*time.Second, "how long a stopping container gets before it is killed")
	fs.StringVar(&s.format, "format", envOr("DOCKPACK_PACK_FORMAT", "classic"), "pack format: classic (every file in full) or store (chunks in the target's pack store: only what changed is written) ($DOCKPACK_PACK_FORMAT)")
	fs.DurationVar(&s.lockWait, "store-lock-wait", 0, "how long a store backup waits while a prune holds the store (0: refuse at once)")
	s.pol.bind(fs)
	s.s3.bind(fs)
}

// spec is the backup the flags describe; an error is a usage error (a
// value no flag accepts).
func (s *specFlags) spec(eng backup.Engine) (backup.Spec, error) {
	mode, err := pack.ParseMode(s.packMode)
	if err != nil {
		return backup.Spec{}, usageError{fmt.Errorf("--pack-mode: %w", err)}
	}
	format, err := backup.ParseFormat(s.format)
	if err != nil {
		return backup.Spec{}, usageError{fmt.Errorf("--format: %w", err)}
	}
	bindMax, err := units.RAMInBytes(s.bindMax)
	if err != nil || bindMax <= 0 {
		return backup.Spec{}, usageError{fmt.Errorf("--bind-max-size %q: want a size such as 64MiB", s.bindMax)}
	}
	comps := []pack.Component{}
	if s.sqlite != "" {
		comps = append(comps, pack.ComponentDB)
	}
	if !s.noVolumes {
		comps = append(comps, pack.ComponentVolumes)
	}
	if !s.noImages {
		comps = append(comps, pack.ComponentImages)
	}
	return backup.Spec{
		Engine:          eng,
		Project:         s.project,
		Target:          s.target,
		S3:              s.s3.options(),
		Policy:          s.pol.policy(),
		SQLitePath:      s.sqlite,
		Components:      comps,
		StopServices:    s.stop,
		StopAllServices: s.stopAll,
		StopApps:        s.stopApps,
		Strict:          s.strict,
		BindLimit:       bindMax,
		StagingDir:      s.staging,
		StopTimeout:     s.stopTimout,
		PackMode:        mode,
		Format:          format,
		StoreLockWait:   s.lockWait,
	}, nil
}
