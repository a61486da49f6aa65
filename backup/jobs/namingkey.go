package jobs

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dockpack/dockpack/backup"
)

// NamingKeyDirName is the directory of the state dir that holds the
// naming key files of the encrypted pack stores the daemon writes to
// (docs/encryption.md §4): one file per store, naming-key-<store id>.json,
// mode 0600, made with the store, never replaced.
const NamingKeyDirName = "naming-keys"

// namingKeyDir is the state dir's naming key directory, made 0700 when
// missing.
func namingKeyDir(stateDir string) (string, error) {
	dir := filepath.Join(stateDir, NamingKeyDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("%w: the naming key directory %s: %w", backup.ErrInvalidSpec, dir, err)
	}
	return dir, nil
}
