package packdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Records reads the owner records of the partial packs in a target (opened
// as a Root). A record that cannot be read is skipped (and reported in err).
func Records(root *os.Root) ([]Record, error) {
	dir, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return nil, err
	}
	var out []Record
	var errs []error
	for _, n := range names {
		if !IsOwnerRecord(n) {
			continue
		}
		rec, err := readRecord(root, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, rec)
	}
	return out, errors.Join(errs...)
}

func readRecord(root *os.Root, name string) (Record, error) {
	f, err := root.Open(name)
	if err != nil {
		return Record{}, err
	}
	defer f.Close()
	var rec Record
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&rec); err != nil {
		return Record{}, fmt.Errorf("owner record %s: %w", name, err)
	}
	if rec.Partial+OwnerSuffix != name || !strings.HasPrefix(rec.Partial, PartialPrefix) || strings.ContainsAny(rec.Partial, "/\\") {
		return Record{}, fmt.Errorf("owner record %s names partial pack %q: not its own", name, rec.Partial)
	}
	return rec, nil
}

// Remove removes a partial pack and its owner record.
func Remove(root *os.Root, rec Record) error {
	if err := root.RemoveAll(rec.Partial); err != nil {
		return fmt.Errorf("remove partial pack %s: %w", rec.Partial, err)
	}
	if err := root.Remove(rec.Partial + OwnerSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
