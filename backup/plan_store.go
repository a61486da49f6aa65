package backup

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dockpack/dockpack/backup/internal/precheck"
	"github.com/dockpack/dockpack/backup/pack"
	"github.com/dockpack/dockpack/backup/storage"
	"github.com/dockpack/dockpack/backup/storage/local"
	"github.com/dockpack/dockpack/backup/store"
	"github.com/dockpack/dockpack/dockerapi"
)

// StorePlan is what a store backup (Spec.Format store) is estimated to
// add to the target's pack store: per component the bytes it reads and
// the bytes the store lacks. Only a backup reading the data knows exactly
// which chunks are new; the plan reads nothing of the stack's data.
type StorePlan struct {
	// StoreID is the target's store ("" when it holds none yet: a first
	// store backup adds everything).
	StoreID string `json:"store_id"`
	// Basis is the newest complete store pack of the project in this
	// store: the volumes' and the database's estimates follow what it
	// added of each of its files ("" when there is none).
	Basis string `json:"basis"`
	// Components: "db", "volumes", "images".
	Components map[string]StoreLack `json:"components"`
}

// StoreLack is one component's estimate.
type StoreLack struct {
	// Size is the plaintext the backup reads (the plan's estimate).
	Size int64 `json:"size"`
	// Lacks is the plaintext the store is estimated to lack.
	Lacks int64 `json:"lacks"`
	// How the estimate was made: LackNewStore, LackByDigest, LackHistory,
	// LackNoHistory.
	How string `json:"how"`
}

// How a StoreLack was estimated.
const (
	// LackNewStore: the target holds no store yet; everything is new.
	LackNewStore = "new_store"
	// LackByDigest: images by layer, each config and layer looked up in
	// the store by digest (what the backup does): exact but for layers
	// that several missing images share (counted once per image).
	LackByDigest = "by_digest"
	// LackHistory: the share of each file the basis pack added to the
	// store (when an older store pack held it too, or the basis reused
	// some of it), applied to its size now, plus any growth since.
	LackHistory = "history"
	// LackNoHistory: no store pack of the project tells how much of it
	// changes (none holds it, or only the first to store it): all of it.
	LackNoHistory = "no_history"
)

// Lacks sums the components' estimates.
func (sp *StorePlan) Lacks() int64 {
	var n int64
	for _, c := range sp.Components {
		n += c.Lacks
	}
	return n
}

// Size sums what the components read.
func (sp *StorePlan) Size() int64 {
	var n int64
	for _, c := range sp.Components {
		n += c.Size
	}
	return n
}

// PlanStore estimates the bytes the target's store lacks for the backup p
// plans (from Plan with the same spec). It reads the store's config,
// index and the target's store packs' manifests and chunk lists, and asks
// the engine for the images' layers; nothing is written. A target on
// object storage is not estimated (nil).
func PlanStore(ctx context.Context, spec Spec, p *PackPlan) (*StorePlan, error) {
	if p == nil || strings.Contains(spec.Target, "://") {
		return nil, nil
	}
	sizes := planSizes(p)
	sp := &StorePlan{Components: map[string]StoreLack{}}
	if _, err := os.Stat(filepath.Join(spec.Target, filepath.FromSlash(store.ConfigKey))); errors.Is(err, os.ErrNotExist) {
		for comp, n := range sizes.total() {
			sp.Components[comp] = StoreLack{Size: n, Lacks: n, How: LackNewStore}
		}
		return sp, nil
	}
	b, err := local.Open(ctx, local.Options{Dir: spec.Target})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	st, err := store.Open(ctx, b, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.LoadIndex(ctx); err != nil {
		return nil, err
	}
	sp.StoreID = st.Config().ID
	if err := sp.history(ctx, spec, st, sizes); err != nil {
		return nil, err
	}
	if slices.Contains(p.Components, pack.ComponentImages) && len(p.Stack.Images) > 0 {
		lack, err := planImages(ctx, spec, p, &runner{store: &storeRun{b: b, st: st}})
		if err != nil {
			return nil, err
		}
		sp.Components["images"] = lack
	}
	return sp, nil
}

// planKey names a pack file for the estimate: its path; the database by
// its kind (its file is named after the source).
func planKey(f pack.FileEntry) string {
	if f.Kind == pack.FileSQLite {
		return string(pack.FileSQLite)
	}
	return f.Path
}

// planSizes are the files a backup of p reads: pack path → size (-1 unknown).
type planFileSizes struct {
	db      map[string]int64
	volumes map[string]int64
	images  int64
}

func planSizes(p *PackPlan) planFileSizes {
	s := planFileSizes{db: map[string]int64{}, volumes: map[string]int64{}, images: -1}
	for _, c := range p.Components {
		switch c {
		case pack.ComponentDB:
			s.db[string(pack.FileSQLite)] = p.Estimate.DB
		case pack.ComponentVolumes:
			for _, v := range p.Stack.Volumes {
				if cp := p.Consistency; cp != nil && !cp.Exported(v.Name) {
					continue
				}
				n, ok := p.Estimate.VolumeSizes[v.Name]
				if !ok {
					n = v.Size
				}
				s.volumes[path.Join(pack.VolumesDir, v.Name+".tar")] = n
			}
		case pack.ComponentImages:
			if len(p.Stack.Images) > 0 {
				s.images = p.Estimate.Images
			}
		}
	}
	return s
}

// total is each component's size (unknown sizes count 0).
func (s planFileSizes) total() map[string]int64 {
	out := map[string]int64{}
	add := func(comp string, files map[string]int64) {
		if len(files) == 0 {
			return
		}
		out[comp] = 0
		for _, n := range files {
			out[comp] += max(n, 0)
		}
	}
	add("db", s.db)
	add("volumes", s.volumes)
	if s.images >= 0 {
		out["images"] = s.images
	}
	return out
}

// history estimates the database and the volumes from the newest complete
// store pack of the project in st: the share of each file it added.
// Where it tells nothing (no such pack or file, or the first store pack to
// hold the file, which added all of it) the estimate is the whole file.
func (sp *StorePlan) history(ctx context.Context, spec Spec, st *store.Store, sizes planFileSizes) error {
	packs, err := pack.List(ctx, spec.Target)
	if err != nil {
		return err
	}
	// The newest complete store pack of the project in this store (the
	// basis), and which files an older one holds: a file the basis was the
	// first to store says nothing about how much of it changes.
	var basis *pack.Manifest
	older := map[string]bool{}
	for _, pi := range packs { // newest first
		if pi.Status != pack.StatusComplete || pi.Format != pack.FormatStore || pi.Project != spec.Project {
			continue
		}
		m, _, err := pack.ReadManifest(ctx, pi.Path)
		if err != nil || m.Store == nil || m.Store.ID != st.Config().ID {
			continue
		}
		if basis == nil {
			basis, sp.Basis = m, pi.Name
			continue
		}
		for _, f := range m.Files {
			older[planKey(f)] = true
		}
		break
	}
	prev := map[string]pack.FileEntry{} // planKey → entry
	if basis != nil {
		for _, f := range basis.Files {
			prev[planKey(f)] = f
		}
	}
	estimate := func(comp string, files map[string]int64) {
		if len(files) == 0 {
			return
		}
		lack := StoreLack{How: LackHistory}
		for p, n := range files {
			n = max(n, 0)
			lack.Size += n
			f, ok := prev[p]
			if !ok || f.Chunks == nil || f.Size <= 0 || (f.Chunks.ReusedRawBytes == 0 && !older[p]) {
				lack.Lacks += n
				lack.How = LackNoHistory
				continue
			}
			share := float64(f.Chunks.NewRawBytes) / float64(f.Size)
			lack.Lacks += min(n, int64(share*float64(n))+max(0, n-f.Size))
		}
		sp.Components[comp] = lack
	}
	estimate("db", sizes.db)
	estimate("volumes", sizes.volumes)
	return nil
}

// planImages looks each image's config and layers up in the store by
// digest, as a store backup does: an image that misses nothing adds
// nothing; one that misses something adds its size less the files found.
func planImages(ctx context.Context, spec Spec, p *PackPlan, r *runner) (StoreLack, error) {
	lack := StoreLack{Size: p.Estimate.Images, How: LackByDigest}
	eng, ok := spec.Engine.(ImageLayersEngine)
	if !ok || p.Engine.ImageStore == dockerapi.ImageStoreContainerd {
		lack.Lacks, lack.How = p.Estimate.Images, LackNoHistory // images.tar as one file: not looked up
		return lack, nil
	}
	cat, err := r.loadImageCatalog(ctx)
	if err != nil {
		return lack, err
	}
	found := map[string]int64{} // pack path → size; -1: missing
	for _, im := range p.Stack.Images {
		il, err := eng.ImageLayers(ctx, im.ID)
		if err != nil {
			return lack, err
		}
		missing, have := false, int64(0)
		for _, ip := range imagePaths(il) {
			n, seen := found[ip.path]
			if !seen {
				n = -1
				cf, err := cat.lookup(ctx, ip.path)
				if err != nil {
					return lack, err
				}
				if cf != nil {
					n = cf.fe.Size
				}
				found[ip.path] = n
			}
			if n < 0 {
				missing = true
			} else {
				have += n
			}
		}
		if missing {
			lack.Lacks += max(0, il.Size-have)
		}
	}
	if lack.Size >= 0 {
		lack.Lacks = min(lack.Lacks, lack.Size)
	}
	return lack, nil
}

// storeLacks is the precheck's estimate of what a store backup of spec
// adds to a local target's pack store (PlanStore over what the prechecks
// found), nil for any other backup: the target needs room for that, not
// for the whole pack.
func storeLacks(spec *Spec) func(ctx context.Context, f *precheck.Facts) (int64, error) {
	if spec.Format != FormatStore || storage.IsS3URL(spec.Target) {
		return nil
	}
	return func(ctx context.Context, f *precheck.Facts) (int64, error) {
		p := &PackPlan{Project: spec.Project, Target: spec.Target, Components: spec.Components}
		p.fill(*f)
		sp, err := PlanStore(ctx, *spec, p)
		if err != nil || sp == nil {
			return 0, cmp.Or(err, errors.New("no store estimate"))
		}
		return sp.Lacks(), nil
	}
}
