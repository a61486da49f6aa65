package tarcheck_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/internal/tarcheck"
)

const enospc = "write /var/lib/docker/tmp/docker-export-4123/blobs/sha256/3f2a: no space left on device"

func TestValidateImageArchive(t *testing.T) {
	L := MustLegacy(t)
	lt := MustTar(t, L.entries...)
	O := MustOCI(t)
	ot := MustTar(t, O.entries...)
	// docker ≥ 25 with the graph-driver store: index.json lists the manifests
	// themselves (no nested index), all present.
	graph25 := replace(without(O.entries, "blobs/sha256/"+O.index), "index.json", file("index.json", mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + O.manifest, "size": 1,
			"annotations": map[string]string{"io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1"}}},
	})))
	longMsg := "failed to export: " + strings.Repeat("layer sha256:3f2a is unavailable; ", 60)

	tests := []struct {
		name    string
		in      []byte
		wantErr []string // substrings of the error; nil: success
		check   func(t *testing.T, a tarcheck.ImageArchive)
	}{
		{name: "valid legacy", in: lt.data, check: func(t *testing.T, a tarcheck.ImageArchive) {
			want := []tarcheck.ArchivedImage{
				{ConfigDigest: "sha256:" + L.cfgA, ConfigPath: L.cfgA + ".json", RepoTags: []string{"app:1"}, Layers: []string{L.idBase + "/layer.tar", L.idA + "/layer.tar"}},
				{ConfigDigest: "sha256:" + L.cfgB, ConfigPath: L.cfgB + ".json", RepoTags: []string{"app:2", "app:latest"}, Layers: []string{L.idBase + "/layer.tar", L.idBDup + "/layer.tar"}},
			}
			if !reflect.DeepEqual(a.Images, want) {
				t.Errorf("Images = %+v\nwant %+v", a.Images, want)
			}
			if a.Format != "docker" || a.Files != 12 || len(a.MissingPlatforms) != 0 {
				t.Errorf("Format %q Files %d MissingPlatforms %v; want docker, 12, none", a.Format, a.Files, a.MissingPlatforms)
			}
		}},
		{name: "valid OCI, second platform absent", in: ot.data, check: func(t *testing.T, a tarcheck.ImageArchive) {
			if a.Format != "docker+oci" {
				t.Errorf("Format = %q, want docker+oci", a.Format)
			}
			if want := []string{"linux/arm64/v8", "sha256:" + O.attest}; !reflect.DeepEqual(a.MissingPlatforms, want) {
				t.Errorf("MissingPlatforms = %q, want %q", a.MissingPlatforms, want)
			}
			want := []tarcheck.ArchivedImage{{ConfigDigest: "sha256:" + O.config, ConfigPath: "blobs/sha256/" + O.config, RepoTags: []string{"app:1"}, Layers: []string{"blobs/sha256/" + O.layer}}}
			if !reflect.DeepEqual(a.Images, want) {
				t.Errorf("Images = %+v, want %+v", a.Images, want)
			}
		}},
		{name: "valid docker 25 graph-driver layout", in: MustTar(t, graph25...).data, check: func(t *testing.T, a tarcheck.ImageArchive) {
			if a.Format != "docker+oci" || len(a.MissingPlatforms) != 0 || len(a.Images) != 1 {
				t.Errorf("got %+v", a)
			}
		}},
		{name: "zero padding after the trailer", in: cat(lt.data, make([]byte, 9216)), check: func(t *testing.T, a tarcheck.ImageArchive) {
			if a.Bytes != int64(len(lt.data)+9216) {
				t.Errorf("Bytes = %d, want %d", a.Bytes, len(lt.data)+9216)
			}
		}},
		{name: "entries named ./x", in: MustTar(t, prefixed("./", L.entries)...).data},

		{name: "missing layer", in: MustTar(t, without(L.entries, L.idBase+"/layer.tar")...).data,
			wantErr: []string{"layer " + L.idBase + "/layer.tar referenced by manifest.json for app:1 is missing"}},
		{name: "missing config", in: MustTar(t, without(L.entries, L.cfgB+".json")...).data,
			wantErr: []string{"config " + L.cfgB + ".json referenced by manifest.json for app:2, app:latest is missing"}},
		{name: "symlinked layer with a missing target", in: MustTar(t, replace(L.entries, L.idBDup+"/layer.tar", symlink(L.idBDup+"/layer.tar", "../gone/layer.tar"))...).data,
			wantErr: []string{"layer " + L.idBDup + "/layer.tar referenced by manifest.json for app:2, app:latest is a link to gone/layer.tar, which is missing"}},
		{name: "symlinked layer leaving the archive", in: MustTar(t, replace(L.entries, L.idBDup+"/layer.tar", symlink(L.idBDup+"/layer.tar", "/etc/passwd"))...).data,
			wantErr: []string{`is a symlink to "/etc/passwd", outside the archive`}},
		{name: "layer is a directory", in: MustTar(t, replace(L.entries, L.idA+"/layer.tar", dir(L.idA+"/layer.tar/"))...).data,
			wantErr: []string{"layer " + L.idA + "/layer.tar referenced by manifest.json for app:1 is missing"}},
		{name: "missing manifest.json", in: MustTar(t, without(L.entries, "manifest.json")...).data,
			wantErr: []string{"manifest.json is missing from the image archive"}},
		{name: "manifest.json not JSON", in: MustTar(t, replace(L.entries, "manifest.json", file("manifest.json", `[{"Config":`))...).data,
			wantErr: []string{"manifest.json in the image archive is not valid JSON"}},
		{name: "manifest.json lists nothing", in: MustTar(t, replace(L.entries, "manifest.json", file("manifest.json", "[]\n"))...).data,
			wantErr: []string{"manifest.json in the image archive lists no images"}},
		{name: "repositories not JSON", in: MustTar(t, replace(L.entries, "repositories", file("repositories", "{\"app\":"))...).data,
			wantErr: []string{"repositories in the image archive is not valid JSON"}},

		{name: "truncated at a header boundary", in: lt.data[:lt.ends[5]],
			wantErr: []string{"image archive ends without the tar end-of-archive marker after ", "the engine stopped sending (truncated export)", `last complete entry "` + L.idA + `/VERSION"`}},
		{name: "truncated after one zero block", in: lt.data[:lt.marker+512],
			wantErr: []string{"ends without the tar end-of-archive marker"}},
		{name: "truncated inside the last entry's padding", in: lt.data[:lt.marker-10],
			wantErr: []string{"ends without the tar end-of-archive marker"}},
		{name: "truncated mid-entry", in: lt.data[:lt.ends[3]-600],
			wantErr: []string{"image archive ends inside entry \"" + L.idBase + "/layer.tar\"", "truncated export"}},
		{name: "truncated mid-header", in: lt.data[:lt.ends[5]+100],
			wantErr: []string{"image archive ends inside a tar header at offset", "truncated export"}},
		{name: "empty stream", in: nil,
			wantErr: []string{"image archive ends without the tar end-of-archive marker after 0 B"}},

		{name: "JSON error appended mid-entry", in: cat(lt.data[:lt.ends[3]-600], engineJSON(enospc)),
			wantErr: []string{"engine error appended to the archive: " + enospc}},
		{name: "JSON error appended at a header boundary", in: cat(lt.data[:lt.ends[5]], engineJSON(enospc)),
			wantErr: []string{"engine error appended to the archive: " + enospc}},
		{name: "long JSON error appended at a header boundary", in: cat(lt.data[:lt.ends[5]], engineJSON(longMsg)),
			wantErr: []string{"engine error appended to the archive: " + longMsg}},
		{name: "JSON error appended after a complete tar", in: cat(lt.data, engineJSON(enospc)),
			wantErr: []string{"engine error appended to the archive: " + enospc, "after the image archive end-of-archive marker"}},
		{name: "JSON error, error key first", in: cat(lt.data, []byte(`{"error":"boom","errorDetail":{"message":"boom detail"}}`)),
			wantErr: []string{"engine error appended to the archive: boom detail"}},
		{name: "junk after the trailer", in: cat(lt.data, make([]byte, 1024), []byte("hello")),
			wantErr: []string{"non-zero data at offset " + strconv.Itoa(len(lt.data)+1024), `"hello"`}},
		{name: "garbage, not a tar", in: bytes.Repeat([]byte("garbage!"), 300),
			wantErr: []string{"image archive: not a tar archive: the stream does not start with a tar header"}},
		{name: "short garbage", in: []byte("hello"),
			wantErr: []string{"image archive: not a tar archive: the stream ends after 5 bytes"}},
		{name: "damaged header mid-stream", in: cat(lt.data[:lt.ends[5]], bytes.Repeat([]byte("x"), 2048)),
			wantErr: []string{"image archive is damaged at offset " + strconv.Itoa(lt.ends[5])}},

		{name: "OCI: manifest of another platform present without its blobs", in: MustTar(t, MustOCI(t, ociArm64Manifest).entries...).data, check: func(t *testing.T, a tarcheck.ImageArchive) {
			if want := []string{"linux/arm64/v8", "sha256:" + O.attest}; !reflect.DeepEqual(a.MissingPlatforms, want) {
				t.Errorf("MissingPlatforms = %q, want %q", a.MissingPlatforms, want)
			}
		}},
		{name: "OCI: needed manifest lists an absent layer", in: MustTar(t, MustOCI(t, ociAmd64ExtraLayer).entries...).data,
			wantErr: []string{"is incomplete: layer blobs/sha256/" + sha("absent layer") + " is missing (manifest.json needs it)"}},
		{name: "OCI: layer blob missing", in: MustTar(t, without(O.entries, "blobs/sha256/"+O.layer)...).data,
			wantErr: []string{"layer blobs/sha256/" + O.layer + " referenced by manifest.json for app:1 is missing"}},
		{name: "OCI: manifest of the needed platform missing", in: MustTar(t, without(O.entries, "blobs/sha256/"+O.manifest)...).data,
			wantErr: []string{"manifest blobs/sha256/" + O.manifest + " referenced by index blobs/sha256/" + O.index + " is missing", "manifest.json's app:1 (linux/amd64) may need it"}},
		{name: "OCI: image index missing", in: MustTar(t, without(O.entries, "blobs/sha256/"+O.index)...).data,
			wantErr: []string{"index blobs/sha256/" + O.index + " referenced by index.json is missing (image docker.io/library/app:1)"}},
		{name: "OCI: index.json not JSON", in: MustTar(t, replace(O.entries, "index.json", file("index.json", "{"))...).data,
			wantErr: []string{"index.json in the image archive is not valid JSON"}},
		{name: "OCI: index.json only", in: MustTar(t, without(O.entries, "manifest.json")...).data,
			wantErr: []string{"manifest.json is missing from the image archive (it has an OCI index.json only"}},
		{name: "OCI: index blob is not JSON", in: MustTar(t, replace(O.entries, "blobs/sha256/"+O.index, file("blobs/sha256/"+O.index, "not json"))...).data,
			wantErr: []string{"index blobs/sha256/" + O.index + " referenced by index.json is not a JSON manifest or index"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tarcheck.ValidateImageArchive(context.Background(), bytes.NewReader(tc.in))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ValidateImageArchive: %v", err)
				}
				if a.Bytes != int64(len(tc.in)) {
					t.Errorf("Bytes = %d, want %d (all of the input)", a.Bytes, len(tc.in))
				}
				if tc.check != nil {
					tc.check(t, a)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateImageArchive succeeded (%+v), want an error containing %q", a, tc.wantErr)
			}
			if !errors.Is(err, tarcheck.ErrIncomplete) {
				t.Errorf("error does not wrap ErrIncomplete: %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func prefixed(p string, entries []entry) []entry {
	out := append([]entry(nil), entries...)
	for i := range out {
		out[i].name = p + out[i].name
	}
	return out
}

func TestValidateImageArchiveCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tarcheck.ValidateImageArchive(ctx, bytes.NewReader(MustTar(t, MustLegacy(t).entries...).data))
	if !errors.Is(err, context.Canceled) || errors.Is(err, tarcheck.ErrIncomplete) {
		t.Fatalf("err = %v, want context.Canceled and not ErrIncomplete", err)
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestValidateImageArchiveReadError(t *testing.T) {
	lt := MustTar(t, MustLegacy(t).entries...)
	boom := errors.New("connection reset by peer")
	_, err := tarcheck.ValidateImageArchive(context.Background(), &failingReader{data: lt.data[:lt.ends[3]-600], err: boom})
	if !errors.Is(err, boom) || !errors.Is(err, tarcheck.ErrIncomplete) {
		t.Fatalf("err = %v, want it to wrap the read error and ErrIncomplete", err)
	}
	if !strings.Contains(err.Error(), "reading the stream failed") {
		t.Errorf("err = %v", err)
	}
}

// A stream that stops mid-way but whose reader reports io.ErrUnexpectedEOF
// (as net/http does for a cut chunked body) is still reported as truncated.
func TestValidateImageArchiveUnexpectedEOFFromReader(t *testing.T) {
	lt := MustTar(t, MustLegacy(t).entries...)
	_, err := tarcheck.ValidateImageArchive(context.Background(), &failingReader{data: lt.data[:lt.ends[5]], err: io.ErrUnexpectedEOF})
	if !errors.Is(err, tarcheck.ErrIncomplete) {
		t.Fatalf("err = %v", err)
	}
}
