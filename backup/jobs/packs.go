package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dockpack/dockpack/backup"
	"github.com/dockpack/dockpack/backup/pack"
)

// The packs of the target as the admin page acts on them: by name, for a
// verification or a restore plan (package verifier).

// ErrPackNotFound: no pack of that name in the target directory.
var ErrPackNotFound = errors.New("pack_not_found")

// FindPack finds a pack of the target by its directory name: a complete
// or invalid pack (a partial one is a backup in progress or the debris of
// one, and is refused). An unknown pack is ErrPackNotFound; a malformed
// name an error wrapping ErrInvalidSpec; ErrClosed once Close began.
func (m *Manager) FindPack(ctx context.Context, name string) (pack.Info, error) {
	done, err := m.enter()
	if err != nil {
		return pack.Info{}, err
	}
	defer done()
	switch {
	case strings.HasPrefix(name, pack.PartialPrefix):
		return pack.Info{}, fmt.Errorf("%w: pack_partial: %s is a partial pack (a backup in progress, or one that did not finish): there is nothing to verify or restore", backup.ErrInvalidSpec, name)
	case name == "" || name != filepath.Base(name) || !strings.HasPrefix(name, pack.NamePrefix) || strings.ContainsAny(name, `/\`):
		return pack.Info{}, fmt.Errorf("%w: pack_name_invalid: %q is not a pack name (%s<time>, as GET /v1/packs lists them)", backup.ErrInvalidSpec, name, pack.NamePrefix)
	}
	packs, err := m.Packs(ctx)
	if err != nil {
		return pack.Info{}, err
	}
	for _, p := range packs {
		if p.Name == name {
			return p, nil
		}
	}
	return pack.Info{}, fmt.Errorf("%w: no pack %s in the target directory", ErrPackNotFound, name)
}
