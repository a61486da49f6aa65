//go:build integration

package integration_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
	"github.com/dockpack/dockpack/dockerapi/dockertest"
)

// daProject is a unique compose project name (lowercase, no separators,
// so v1 `_` and v2 `-` container names are both plain to build).
func daProject() string {
	return strings.ReplaceAll(dockertest.Unique("dpt"), "-", "")
}

// daImageRef is a unique tagged image reference.
func daImageRef(name string) string {
	u := dockertest.Unique("x")
	return "dockpack-test/da-" + name + ":" + u[2:]
}

// daTarEntries lists a tar stream's entries as comparable lines: name, type,
// mode, uid:gid, link target and the sha256 of the content (mtimes left
// out), in stream order. It also checks the stream is a complete tar.
func daTarEntries(t testing.TB, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			t.Fatalf("read tar entry %s: %v", h.Name, err)
		}
		// the engine adds the file-type bits (0o40000 …) to Mode; keep permissions
		line := fmt.Sprintf("%s type=%c mode=%o owner=%d:%d", h.Name, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid)
		if h.Linkname != "" {
			line += " -> " + h.Linkname
		}
		if h.Typeflag == tar.TypeReg {
			line += fmt.Sprintf(" size=%d sha=%s", h.Size, hex.EncodeToString(sum.Sum(nil))[:16])
		}
		out = append(out, line)
	}
	return out
}

// daSorted returns a sorted copy.
func daSorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// daDiff describes how two entry lists differ ("" when equal).
func daDiff(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var b strings.Builder
	for _, s := range want {
		if !g[s] {
			fmt.Fprintf(&b, "\n  missing: %s", s)
		}
	}
	for _, s := range got {
		if !w[s] {
			fmt.Fprintf(&b, "\n  extra:   %s", s)
		}
	}
	return b.String()
}

// daNoHelpers fails when a helper container for the volume is left over.
func daNoHelpers(t testing.TB, cli *dockertest.Client, volume string) {
	t.Helper()
	if n, _ := dockertest.CountLabelled(t, cli, dockerapi.LabelHelperVolume+"="+volume); n != 0 {
		t.Errorf("%d helper container(s) for volume %s left behind", n, volume)
	}
}

// daExport exports a volume of st into memory.
func daExport(t testing.TB, c *dockerapi.Client, st dockerapi.Stack, volume string) ([]byte, dockerapi.ExportResult) {
	t.Helper()
	var buf bytes.Buffer
	res, err := c.ExportVolume(MustCtx(t), st, volume, &buf)
	if err != nil {
		t.Fatalf("ExportVolume %s: %v", volume, err)
	}
	if res.Bytes != int64(buf.Len()) {
		t.Errorf("ExportVolume %s: Bytes = %d, wrote %d", volume, res.Bytes, buf.Len())
	}
	return buf.Bytes(), res
}
