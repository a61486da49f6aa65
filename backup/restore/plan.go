package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/internal/i18n"
	"github.com/dockpack/dockpack/internal/nonnil"
)

// Restore actions, as planned per image, volume and database.
const (
	ActionCreate    = "create"    // missing: created
	ActionRefill    = "refill"    // left incomplete by a failed restore: removed and created again, no --force needed
	ActionReplace   = "replace"   // exists, empty or --force: removed and created again
	ActionOverwrite = "overwrite" // exists and containers reference it: the pack's content is extracted over it
	ActionLoad      = "load"      // images: loaded
	ActionPresent   = "present"   // images: already there with the recorded config digest
	ActionSkip      = "skip"      // not restored
	ActionRefuse    = "refuse"    // not possible without --force / --stop-running; see Reason
)

// Codes of VolumePlan.ReasonCode and SQLitePlan.ReasonCode.
const (
	ReasonDuplicate    = "duplicate"      // two pack volumes map to one target name
	ReasonInUse        = "in_use"         // running containers use the volume (no StopRunning)
	ReasonIncomplete   = "incomplete"     // left incomplete by a failed restore
	ReasonHoldsData    = "holds_data"     // exists and holds data (no Force)
	ReasonEmpty        = "empty"          // exists, empty
	ReasonForced       = "forced"         // exists and holds data, replaced with Force
	ReasonDBExists     = "db_exists"      // a database exists at SQLiteDest (no Force)
	ReasonDBNotRegular = "db_not_regular" // SQLiteDest exists and is not a regular file
	ReasonDBDirMissing = "db_dir_missing" // SQLiteDest's directory does not exist
)

// Plan says what a restore does; Restore computes it before
// changing anything and refuses when Problems is not empty.
type Plan struct {
	Pack        string            `json:"pack"`
	PackName    string            `json:"pack_name"`
	PackProject string            `json:"pack_project"`
	Project     string            `json:"project"`
	Components  []pack.Component  `json:"components"`
	Images      []ImagePlan       `json:"images"`
	Volumes     []VolumePlan      `json:"volumes"`
	SQLite      *SQLitePlan       `json:"sqlite,omitempty"`
	Binds       []BindPlan        `json:"binds,omitempty"` // with Spec.Binds or BindsRoot (binds.go)
	Stop        []string          `json:"stop"`            // running containers stopped around the volume step
	Notes       []string          `json:"notes"`           // in Spec.Lang
	Problems    []string          `json:"problems"`        // in Spec.Lang; any refuses the restore
	Bytes       int64             `json:"bytes"`           // pack bytes the restore reads
	stopIDs     []string          // IDs of Stop
	present     []pack.ImageEntry // pack images already on the engine
}

// ImagePlan is one image of the pack.
type ImagePlan struct {
	ConfigDigest string   `json:"config_digest"`
	Tags         []string `json:"tags"`
	Action       string   `json:"action"`
	// Moves lists tags that name another image now ("tag (now sha256:…)"):
	// loading moves them to the pack's image (needs Force).
	Moves []string `json:"moves,omitempty"`
}

// VolumePlan is one volume of the pack.
type VolumePlan struct {
	Name    string            `json:"name"`   // in the pack
	Target  string            `json:"target"` // on the engine
	File    string            `json:"file"`
	Size    int64             `json:"size"` // bytes of file content
	Driver  string            `json:"driver"`
	Options map[string]string `json:"options"`
	Labels  map[string]string `json:"labels"`
	Action  string            `json:"action"`
	// Reason says why the action, in Spec.Lang; ReasonCode is the same
	// for machines (Reason* constants).
	Reason     string   `json:"reason,omitempty"`
	ReasonCode string   `json:"reason_code,omitempty"`
	Users      []string `json:"users,omitempty"` // containers mounting it now
	Stop       []string `json:"stop,omitempty"`  // running users stopped around the restore
}

// SQLitePlan is the database restore.
type SQLitePlan struct {
	File   string `json:"file"`
	Dest   string `json:"dest"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Action string `json:"action"`
	// Reason says why the action, in Spec.Lang; ReasonCode is the same
	// for machines (Reason* constants).
	Reason     string `json:"reason,omitempty"`
	ReasonCode string `json:"reason_code,omitempty"`
}

// planner computes a Plan.
type planner struct {
	spec *Spec
	m    *pack.Manifest
	p    *Plan
	t    i18n.Printer
}

func (pl *planner) note(key string, a ...any) { pl.p.Notes = append(pl.p.Notes, pl.t.T(key, a...)) }
func (pl *planner) problem(key string, a ...any) {
	pl.p.Problems = append(pl.p.Problems, pl.t.T(key, a...))
}

// planRestore computes the plan, reading the engine and the file system
// but changing nothing.
func planRestore(ctx context.Context, dir string, m *pack.Manifest, spec *Spec) (*Plan, error) {
	p := &Plan{Pack: dir, PackName: filepath.Base(dir), PackProject: m.Project, Project: spec.Project,
		Images: []ImagePlan{}, Volumes: []VolumePlan{}, Stop: []string{}, Notes: []string{}, Problems: []string{}}
	if p.Project == "" {
		p.Project = m.Project
	}
	pl := &planner{spec: spec, m: m, p: p, t: i18n.For(spec.Lang)}
	if err := pl.components(dir); err != nil {
		return p, err
	}
	if p.Project != m.Project {
		pl.note("restore.note.renamed", m.Project, p.Project)
	}
	if slices.Contains(p.Components, pack.ComponentImages) {
		if err := pl.images(ctx); err != nil {
			return p, err
		}
	}
	if slices.Contains(p.Components, pack.ComponentVolumes) {
		if err := pl.volumes(ctx); err != nil {
			return p, err
		}
	}
	if slices.Contains(p.Components, pack.ComponentDB) {
		pl.sqlite()
	}
	if slices.Contains(p.Components, pack.ComponentVolumes) {
		if err := pl.binds(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// components settles what is restored: the spec's components, or what the
// pack holds (the database only with a destination).
func (pl *planner) components(dir string) error {
	spec, m, p := pl.spec, pl.m, pl.p
	if spec.Components == nil {
		for _, c := range m.Contents {
			if c == pack.ComponentDB && spec.SQLiteDest == "" {
				pl.note("restore.note.no_sqlite_dest")
				continue
			}
			p.Components = append(p.Components, c)
		}
	} else {
		for _, c := range pack.AllComponents {
			if !slices.Contains(spec.Components, c) {
				continue
			}
			if !slices.Contains(m.Contents, c) {
				return fmt.Errorf("%w: restore: the pack %s holds no %s (it holds %s)", backup.ErrInvalidSpec, dir, c, pack.JoinComponents(m.Contents))
			}
			p.Components = append(p.Components, c)
		}
	}
	if len(p.Components) == 0 {
		return fmt.Errorf("%w: restore: nothing to restore from %s (it holds %s; give --sqlite-dest for the database)", backup.ErrInvalidSpec, dir, pack.JoinComponents(m.Contents))
	}
	return nil
}

// images plans each image: present with its config digest, or loaded
// (refused when that moves a tag, unless Force).
func (pl *planner) images(ctx context.Context) error {
	m, p := pl.m, pl.p
	anyLoad := false
	for _, im := range m.Images {
		ip, err := pl.image(ctx, im)
		if err != nil {
			return err
		}
		if ip.Action == ActionPresent {
			p.present = append(p.present, im)
		}
		if len(ip.Moves) > 0 && !pl.spec.Force {
			pl.problem("restore.problem.tag_moves", strings.Join(ip.Moves, ", "))
		}
		if ip.Action == ActionLoad {
			anyLoad = true
		}
		p.Images = append(p.Images, ip)
	}
	if anyLoad {
		p.Bytes += m.ImagesSize() // images.tar, or the configs and layers
	} else {
		pl.note("restore.note.images_present")
	}
	return nil
}

// image plans one image by looking up each of its tags (or its digest).
func (pl *planner) image(ctx context.Context, im pack.ImageEntry) (ImagePlan, error) {
	ip := ImagePlan{ConfigDigest: im.ConfigDigest, Tags: nonnil.Slice(im.RepoTags), Action: ActionPresent}
	refs := im.RepoTags
	if len(refs) == 0 {
		refs = []string{im.ConfigDigest}
	}
	for _, ref := range refs {
		d, err := pl.spec.Engine.ImageConfigDigest(ctx, ref)
		switch {
		case errors.Is(err, dockerapi.ErrImageNotFound):
			ip.Action = ActionLoad
		case errors.Is(err, dockerapi.ErrUnsupported):
			ip.Action = ActionLoad // digests not comparable here: load to be sure
		case err != nil:
			return ip, fmt.Errorf("restore plan: image %s: %w", ref, err)
		case d != im.ConfigDigest:
			ip.Action = ActionLoad
			ip.Moves = append(ip.Moves, fmt.Sprintf("%s (now %s)", ref, d))
		}
	}
	return ip, nil
}

// sqlite plans the database restore to SQLiteDest.
func (pl *planner) sqlite() {
	spec, m, p := pl.spec, pl.m, pl.p
	fe, _ := m.File(m.SQLite.File)
	sp := &SQLitePlan{File: m.SQLite.File, Dest: spec.SQLiteDest, Size: fe.Size, SHA256: fe.SHA256, Action: ActionCreate}
	refuse := func(code string, a ...any) {
		sp.Action, sp.ReasonCode, sp.Reason = ActionRefuse, code, pl.t.T("restore.reason."+code, a...)
	}
	if fi, err := os.Stat(spec.SQLiteDest); err == nil {
		switch {
		case !fi.Mode().IsRegular():
			refuse(ReasonDBNotRegular, spec.SQLiteDest)
		case !spec.Force:
			refuse(ReasonDBExists, spec.SQLiteDest, units.BytesSize(float64(fi.Size())))
		default:
			sp.Action = ActionReplace
		}
	} else if dir := filepath.Dir(spec.SQLiteDest); !isDir(dir) {
		refuse(ReasonDBDirMissing, dir)
	}
	if sp.Action == ActionRefuse {
		pl.problem("restore.problem.database", sp.Reason)
	} else {
		p.Bytes += fe.Size
	}
	p.SQLite = sp
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
