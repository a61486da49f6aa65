package pack

import (
	"fmt"
	"os"
	"slices"
	"strconv"
)

// DefaultMode is the mode of a pack's files unless widened: a pack holds
// the application's credentials (the database's password hashes, the
// volumes' secrets), so only its owner reads it. Its directories get the
// same read bits plus search (DirMode).
const DefaultMode os.FileMode = 0o600

// Modes are the accepted modes of a pack's files, as a setting spells them
// (the first is the default).
var Modes = []string{"0600", "0640", "0644"}

// ValidMode reports whether m is one of Modes.
func ValidMode(m os.FileMode) bool {
	return slices.Contains(Modes, fmt.Sprintf("%04o", m))
}

// ParseMode parses one of Modes ("" = DefaultMode).
func ParseMode(s string) (os.FileMode, error) {
	if s == "" {
		return DefaultMode, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || !ValidMode(os.FileMode(n)) {
		return 0, fmt.Errorf("pack mode %q: use %s (default), %s or %s", s, Modes[0], Modes[1], Modes[2])
	}
	return os.FileMode(n), nil
}

// DirMode is the mode of a pack's directories for files of mode m: its
// read bits plus search (rw- → rwx, r-- → r-x).
func DirMode(m os.FileMode) os.FileMode { return m | (m&0o444)>>2 | 0o100 }
