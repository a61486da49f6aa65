package sqlitesnap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dockpack/dockpack/internal/owner"
)

// stagingPrefix names the private directories Snapshot and Restore create
// in the staging directory (always removed when they return).
const stagingPrefix = "dockpack-sqlitesnap-"

// ownerFile, inside a staging directory, names the process that created it
// (written before anything else, so that a crash leaves debris its next
// recovery can attribute: RemoveStale).
const ownerFile = "owner.json"

// newStagingDir creates a private directory (0700) for a staged copy in
// root, named after its owner and holding the owner's record.
func newStagingDir(root string, id owner.Identity) (string, error) {
	if id.Token == "" {
		id = owner.Self("")
	}
	dir, err := os.MkdirTemp(root, stagingPrefix+id.Tag()+"-*")
	if err != nil {
		return "", fmt.Errorf("sqlitesnap: create a staging directory in %s: %w; check the staging directory option", root, err)
	}
	b, _ := json.Marshal(id)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), b, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("sqlitesnap: staging directory %s: %w", dir, err)
	}
	return dir, nil
}

// StaleAfter is how old a staging directory without an owner record must be
// before RemoveStale takes it for debris (older dockpack versions wrote none).
const StaleAfter = time.Hour

// RemoveStale removes the staging directories under root whose owner is
// dead (dead reports it: typically owner.Identity.Dead on this host), and
// those without an owner record older than StaleAfter. A staged copy holds
// the application's database (password hashes): it must never outlive its
// run. It returns what it removed.
func RemoveStale(ctx context.Context, root string, dead func(owner.Identity) bool) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("sqlitesnap: list staging directory %s: %w", root, err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stagingPrefix) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if !staleStaging(dir, e, dead) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

func staleStaging(dir string, e os.DirEntry, dead func(owner.Identity) bool) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	var id owner.Identity
	if err == nil && json.Unmarshal(b, &id) == nil && id.Token != "" {
		return dead(id)
	}
	fi, err := e.Info()
	return err == nil && time.Since(fi.ModTime()) > StaleAfter
}
