package main

// A tiny "database" for the consistency tests: its state is two files that
// must agree, written continuously by a server process, read and replaced
// by separate processes (dumps and loads through exec), as a real database
// would be:
//
//	testapp db DIR          serve: append a row every 10 ms (none while DIR/PAUSE exists)
//	testapp db-dump DIR     write a consistent dump of DIR to stdout
//	testapp db-load DIR     replace DIR's state with the dump read from stdin
//	testapp db-check DIR    exit 0 when DIR's state is consistent, else 1
//	testapp db-pause DIR    create DIR/PAUSE; db-resume DIR removes it
//
// DIR/rows.txt holds the rows, one a line; DIR/meta holds "rows N sha256 H"
// for the first N rows. A copy of the files taken while the server writes
// can hold rows the meta does not count (a torn state); db-dump takes the
// state under a shared lock (DIR/.lock, flock) and is always consistent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const dbMagic = "testapp-db 1"

// dbModes are the database subcommands, dispatched from main.
var dbModes = map[string]func(ctx context.Context, args []string) error{
	"db":        dbServe,
	"db-dump":   func(_ context.Context, a []string) error { return dbDump(a, os.Stdout) },
	"db-load":   func(_ context.Context, a []string) error { return dbLoad(a, os.Stdin) },
	"db-check":  dbCheck,
	"db-pause":  func(_ context.Context, a []string) error { return dbPause(a, true) },
	"db-resume": func(_ context.Context, a []string) error { return dbPause(a, false) },
}

func oneDir(args []string, usage string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("usage: testapp %s DIR", usage)
	}
	return args[0], nil
}

// lockDir takes DIR/.lock (LOCK_SH or LOCK_EX) and returns its release.
func lockDir(dir string, how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// dbState is the rows the meta vouches for.
type dbState struct{ rows []string }

func (s dbState) sum() string {
	h := sha256.New()
	for _, r := range s.rows {
		h.Write([]byte(r + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readState reads DIR's state (call it under the lock); a torn state is an error.
func readState(dir string) (dbState, error) {
	meta, err := os.ReadFile(filepath.Join(dir, "meta"))
	if errors.Is(err, os.ErrNotExist) {
		return dbState{}, nil
	}
	if err != nil {
		return dbState{}, err
	}
	var n int
	var sum string
	if _, err := fmt.Sscanf(string(meta), "rows %d sha256 %s", &n, &sum); err != nil {
		return dbState{}, fmt.Errorf("meta %q: %v", meta, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "rows.txt"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return dbState{}, err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(data) == 0 {
		lines = nil
	}
	if len(lines) != n {
		return dbState{}, fmt.Errorf("torn state: meta counts %d rows, rows.txt holds %d", n, len(lines))
	}
	s := dbState{rows: lines}
	if s.sum() != sum {
		return dbState{}, fmt.Errorf("torn state: rows.txt does not match the meta's checksum")
	}
	return s, nil
}

// writeState replaces DIR's state (call it under the exclusive lock).
func writeState(dir string, s dbState) error {
	var b bytes.Buffer
	for _, r := range s.rows {
		b.WriteString(r + "\n")
	}
	if err := writeAtomic(filepath.Join(dir, "rows.txt"), b.Bytes()); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "meta"), fmt.Appendf(nil, "rows %d sha256 %s\n", len(s.rows), s.sum()))
}

func writeAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// dbServe appends a row every 10 ms until ctx ends: rows.txt first, then
// the meta (a moment apart, like a database's data file and its log).
func dbServe(ctx context.Context, args []string) error {
	dir, err := oneDir(args, "db")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := dbAppend(dir, now); err != nil {
				return err
			}
		}
	}
}

func dbAppend(dir string, now time.Time) error {
	unlock, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "PAUSE")); err == nil {
		return nil
	}
	s, err := readState(dir)
	if err != nil {
		return err
	}
	s.rows = append(s.rows, fmt.Sprintf("%d %s", len(s.rows)+1, now.UTC().Format(time.RFC3339Nano)))
	f, err := os.OpenFile(filepath.Join(dir, "rows.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s.rows[len(s.rows)-1] + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	time.Sleep(time.Millisecond)
	return writeAtomic(filepath.Join(dir, "meta"), fmt.Appendf(nil, "rows %d sha256 %s\n", len(s.rows), s.sum()))
}

// dbDump writes "testapp-db 1", "rows N", the rows and "sha256 H".
func dbDump(args []string, w io.Writer) error {
	dir, err := oneDir(args, "db-dump")
	if err != nil {
		return err
	}
	unlock, err := lockDir(dir, syscall.LOCK_SH)
	if err != nil {
		return err
	}
	s, err := readState(dir)
	unlock()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%s\nrows %d\n", dbMagic, len(s.rows))
	for _, r := range s.rows {
		fmt.Fprintln(bw, r)
	}
	fmt.Fprintf(bw, "sha256 %s\n", s.sum())
	return bw.Flush()
}

// parseDump reads what dbDump wrote, checking count and checksum.
func parseDump(r io.Reader) (dbState, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return dbState{}, err
	}
	if len(lines) < 3 || lines[0] != dbMagic || !strings.HasPrefix(lines[1], "rows ") {
		return dbState{}, errors.New("not a testapp-db dump")
	}
	n, err := strconv.Atoi(strings.TrimPrefix(lines[1], "rows "))
	if err != nil || len(lines) != n+3 {
		return dbState{}, fmt.Errorf("dump truncated: it announces %s, holds %d lines", lines[1], len(lines)-3)
	}
	s := dbState{rows: lines[2 : 2+n]}
	if lines[n+2] != "sha256 "+s.sum() {
		return dbState{}, errors.New("dump damaged: checksum differs")
	}
	return s, nil
}

// dbLoad replaces the state with the dump on r.
func dbLoad(args []string, r io.Reader) error {
	dir, err := oneDir(args, "db-load")
	if err != nil {
		return err
	}
	s, err := parseDump(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if err := writeState(dir, s); err != nil {
		return err
	}
	fmt.Printf("loaded %d rows\n", len(s.rows))
	return nil
}

func dbCheck(_ context.Context, args []string) error {
	dir, err := oneDir(args, "db-check")
	if err != nil {
		return err
	}
	unlock, err := lockDir(dir, syscall.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := readState(dir)
	if err != nil {
		return err
	}
	fmt.Printf("consistent: %d rows\n", len(s.rows))
	return nil
}

func dbPause(args []string, pause bool) error {
	dir, err := oneDir(args, "db-pause|db-resume")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "PAUSE")
	if !pause {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Under the lock: once db-pause returns, the server writes nothing.
	unlock, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	return os.WriteFile(p, nil, 0o644)
}
