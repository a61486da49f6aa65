package mountcheck

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// DefaultProbeTimeout bounds every file-system call on the target when
// Policy.ProbeTimeout is zero, and the calls made by Pin, Pinned.Check and
// FreeSpace (whose callers can bound them further with ctx).
const DefaultProbeTimeout = 10 * time.Second

// DefaultFSTypes returns the filesystem types allowed when Policy.FSTypes is
// empty and Policy.AnyFSType is false: the kernel's names for SMB shares.
func DefaultFSTypes() []string { return []string{"cifs", "smb3"} }

// Policy says what Verify must find. The zero value is the strict default:
// a cifs or smb3 share, not on the root filesystem, no free-space
// requirement, a write probe bounded by DefaultProbeTimeout.
type Policy struct {
	// FSTypes lists the allowed filesystem types exactly as mountinfo names
	// them ("cifs", "smb3", "nfs4", "tmpfs", "fuse.sshfs"). Default {"cifs", "smb3"}.
	FSTypes []string
	// AnyFSType allows every filesystem type (explicit opt-in); FSTypes is
	// then ignored.
	AnyFSType bool
	// AllowRootFS allows the path to be on the root filesystem, judged by
	// device id (a bind mount of a root-fs directory is on the root
	// filesystem). The fstype check still applies, so this usually goes with
	// AnyFSType or with naming the root filesystem's type. Default false.
	AllowRootFS bool
	// ExpectedMountPoint, when set, must be exactly the mount point of the
	// mount holding the path (symlinks in it are resolved). It must be absolute.
	ExpectedMountPoint string
	// MinFreeBytes is the free space (available to unprivileged writers) the
	// filesystem must have. 0 = no requirement.
	MinFreeBytes uint64
	// ProbeTimeout bounds each file-system call on the target, the write
	// probe included. Default DefaultProbeTimeout (10s).
	ProbeTimeout time.Duration
	// SkipProbe skips the write probe: Verify only inspects (doctor-style).
	SkipProbe bool
	// FileOps is the seam the write probe uses; nil means the real OS.
	FileOps FileOps
}

func (p *Policy) applyDefaults() {
	if len(p.FSTypes) == 0 && !p.AnyFSType {
		p.FSTypes = DefaultFSTypes()
	}
	if p.ProbeTimeout == 0 {
		p.ProbeTimeout = DefaultProbeTimeout
	}
	if p.FileOps == nil {
		p.FileOps = OSFileOps{}
	}
}

// Validate reports the first invalid field, wrapped in ErrPolicy.
func (p Policy) Validate() error {
	if p.ProbeTimeout < 0 {
		return fmt.Errorf("%w: probe timeout %s is negative: use 0 for the default (%s) or a positive duration",
			ErrPolicy, p.ProbeTimeout, DefaultProbeTimeout)
	}
	for _, t := range p.FSTypes {
		if t == "" || strings.ContainsAny(t, " \t\n,|/") {
			return fmt.Errorf("%w: filesystem type %q is not a valid type name: use names as /proc/self/mountinfo shows them, e.g. cifs, smb3, nfs4, tmpfs",
				ErrPolicy, t)
		}
	}
	if p.ExpectedMountPoint != "" && !filepath.IsAbs(p.ExpectedMountPoint) {
		return fmt.Errorf("%w: expected mount point %q is not an absolute path: give it as it appears in /etc/fstab, e.g. /mnt/replica",
			ErrPolicy, p.ExpectedMountPoint)
	}
	return nil
}

// String describes the policy with its defaults applied, e.g.
// "fstype cifs|smb3, not on root fs, expected mount /mnt/replica, write probe timeout 10s".
func (p Policy) String() string {
	p.applyDefaults()
	var parts []string
	if p.AnyFSType {
		parts = append(parts, "any fstype")
	} else {
		parts = append(parts, "fstype "+strings.Join(p.FSTypes, "|"))
	}
	if p.AllowRootFS {
		parts = append(parts, "root fs allowed")
	} else {
		parts = append(parts, "not on root fs")
	}
	if p.ExpectedMountPoint != "" {
		parts = append(parts, "expected mount "+filepath.Clean(p.ExpectedMountPoint))
	}
	if p.MinFreeBytes > 0 {
		parts = append(parts, "min free "+units.BytesSize(float64(p.MinFreeBytes)))
	}
	if p.SkipProbe {
		parts = append(parts, "no write probe")
	} else {
		parts = append(parts, "write probe timeout "+p.ProbeTimeout.String())
	}
	return strings.Join(parts, ", ")
}

// allowsFSType reports whether fstype passes the policy (defaults applied).
func (p Policy) allowsFSType(fstype string) bool {
	if p.AnyFSType {
		return true
	}
	for _, t := range p.FSTypes {
		if t == fstype {
			return true
		}
	}
	return false
}
