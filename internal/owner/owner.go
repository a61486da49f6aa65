// Package owner identifies the process that owns a lease, a partial pack
// or a helper container, and tells whether such an owner is provably dead.
//
// A process is identified by its host name, its pid and its "process start"
// string, which is "<boot id>/<pid namespace>/<start time>": the kernel's boot
// id (/proc/sys/kernel/random/boot_id), the pid namespace
// (readlink /proc/<pid>/ns/pid) and the process start time in clock ticks
// since boot (field 22 of /proc/<pid>/stat). Pids are reused (and are 1 in
// every container), so a pid alone proves nothing; a pid whose start time
// differs from the recorded one is another process.
package owner

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/dockpack/dockpack/internal/textutil"
)

// Identity is what an owner records about itself (lock row, owner file, labels).
type Identity struct {
	Token     string `json:"token"` // random, unique per owner (a Manager, a CLI run)
	Host      string `json:"host"`
	PID       int    `json:"pid"`
	ProcStart string `json:"proc_start"`
}

// String names the owner for humans ("host myhost pid 42").
func (o Identity) String() string { return fmt.Sprintf("host %s pid %d", o.Host, o.PID) }

// NewToken returns a random owner token (32 hex digits).
func NewToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on Linux
	}
	return hex.EncodeToString(b[:])
}

// ShortToken is what LockInfo shows of a token: never the whole of it.
func ShortToken(t string) string {
	if len(t) > 8 {
		return t[:8]
	}
	return t
}

const procRoot = "/proc"

func readBootID() string {
	b, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readPidNS(pid int) string {
	s, err := os.Readlink(fmt.Sprintf("%s/%d/ns/pid", procRoot, pid))
	if err != nil {
		return ""
	}
	return s
}

// readStartTime returns field 22 of /proc/<pid>/stat; the error matches
// fs.ErrNotExist when there is no such process.
func readStartTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return "", err
	}
	// A killed process its parent has not reaped yet (state Z or X) still
	// has its /proc entry, but it holds nothing any more: it is dead.
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
		return "", fmt.Errorf("process %d is a zombie: %w", pid, fs.ErrNotExist)
	}
	return ParseStatStartTime(string(b))
}

// ParseStatStartTime extracts the start time from the text of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may itself contain spaces
// and parentheses, so fields are counted from the last ')'.
func ParseStatStartTime(stat string) (string, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return "", fmt.Errorf("malformed /proc stat line %q", textutil.Truncate(stat, 80))
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return "", fmt.Errorf("malformed /proc stat line %q: %d fields after the command name", textutil.Truncate(stat, 80), len(fields))
	}
	if _, err := strconv.ParseUint(fields[19], 10, 64); err != nil {
		return "", fmt.Errorf("malformed /proc stat start time %q", fields[19])
	}
	return fields[19], nil
}

// ProcStartOf returns the "process start" identity of pid on this host, or ""
// when it cannot be read.
func ProcStartOf(pid int) string {
	st, err := readStartTime(pid)
	if err != nil {
		return ""
	}
	return readBootID() + "/" + readPidNS(pid) + "/" + st
}

func splitProcStart(s string) (boot, ns, start string, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// ProcAlive is the default liveness check of a lease owner recorded on this
// host (the caller has already compared host names). It reports false only
// when the owner is provably dead: same boot as this process, and either no
// /proc/<pid> or a process there with a different start time (pids are
// reused, and are 1 in every container: a restarted daemon container finds
// its own pid 1 with a later start time). Anything it cannot compare
// (another boot, an unreadable record) counts as alive, so such a lease is
// only taken over once it expires.
//
// The pid namespace is recorded for diagnostics but not compared: a
// restarted container gets a new one, and its old owner must be taken over at
// once. The price: two daemons in different containers that share both a
// host name and a state DB (a misconfiguration) may judge each other dead;
// the displaced job then finds its lease lost and aborts cleanly.
func ProcAlive(pid int, procStart string) bool {
	boot, _, start, ok := splitProcStart(procStart)
	if !ok || pid <= 0 {
		return true
	}
	if boot != readBootID() {
		return true
	}
	cur, err := readStartTime(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	return cur == start
}
