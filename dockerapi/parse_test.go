package dockerapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/dockerapi"
)

func TestParseLoadStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		json   bool
		loaded string
		errSub string
	}{
		{name: "tag", body: `{"stream":"Loaded image: app:1\n"}`, json: true, loaded: "[app:1]"},
		{name: "id and tags, one message with two lines", body: `{"stream":"Loaded image: a:1\nLoaded image: b:2\n"}{"stream":"Loaded image ID: sha256:ab\n"}`, json: true, loaded: "[a:1 b:2 sha256:ab]"},
		{name: "progress messages ignored", body: `{"status":"Loading layer","progressDetail":{"current":1,"total":2},"id":"x"}` + "\n" + `{"stream":"Loaded image: a:1\n"}`, json: true, loaded: "[a:1]"},
		{name: "tag moved note", body: `{"stream":"The image a:1 already exists, renaming the old one with ID sha256:00 to empty string\n"}{"stream":"Loaded image: a:1\n"}`, json: true, loaded: "[a:1]"},
		{name: "errorDetail", body: `{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}`, json: true, errSub: "unexpected EOF"},
		{name: "error only", body: `{"error":"invalid tar header"}`, json: true, errSub: "invalid tar header"},
		{name: "error after a load", body: `{"stream":"Loaded image: a:1\n"}{"errorDetail":{"message":"disk full"}}`, json: true, errSub: "after loading a:1: disk full"},
		{name: "empty", body: ``, json: true, errSub: "no loaded image"},
		{name: "junk", body: `<html>502 Bad Gateway</html>`, json: true, errSub: "not a JSON message stream"},
		{name: "plain text ok", body: "Loaded image: a:1\n", json: false, loaded: "[a:1]"},
		{name: "plain text error", body: "open /x: no such file\n", json: false, errSub: "open /x: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := dockerapi.ParseLoadStream(strings.NewReader(tc.body), tc.json)
			if tc.errSub != "" {
				if !errors.Is(err, dockerapi.ErrImageLoad) || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err = %v, want ErrImageLoad containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Loaded); got != tc.loaded {
				t.Errorf("Loaded = %s, want %s", got, tc.loaded)
			}
		})
	}
}

func FuzzParseLoadStream(f *testing.F) {
	f.Add([]byte(`{"stream":"Loaded image: app:1\n"}`), true)
	f.Add([]byte(`{"errorDetail":{"message":"x"},"error":"x"}`), true)
	f.Add([]byte("Loaded image ID: sha256:00\n"), false)
	f.Add([]byte(`{"stream":`), true)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool) {
		res, err := dockerapi.ParseLoadStream(strings.NewReader(string(body)), isJSON)
		if err == nil && len(res.Loaded) == 0 {
			t.Fatal("success without a loaded image")
		}
		if err != nil && !errors.Is(err, dockerapi.ErrImageLoad) {
			t.Fatalf("error not wrapping ErrImageLoad: %v", err)
		}
	})
}

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{
		"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
		"armv7l": "arm/v7", "armv6l": "arm/v6", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "RISCV64": "riscv64", "": "",
	} {
		arch, variant := dockerapi.NormalizeArch(in)
		got := arch
		if variant != "" {
			got += "/" + variant
		}
		if got != want {
			t.Errorf("NormalizeArch(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageStore(t *testing.T) {
	if got := dockerapi.ImageStoreOf([][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}); got != dockerapi.ImageStoreContainerd {
		t.Errorf("containerd snapshotter: %s", got)
	}
	if got := dockerapi.ImageStoreOf([][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}); got != dockerapi.ImageStoreGraphDriver {
		t.Errorf("overlay2: %s", got)
	}
	if got := dockerapi.ImageStoreOf(nil); got != dockerapi.ImageStoreGraphDriver {
		t.Errorf("nil: %s", got)
	}
}

func TestIsAnonymousVolume(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{hex, nil, true},
		{hex, map[string]string{dockerapi.LabelProject: "p"}, false},
		{hex, map[string]string{dockerapi.LabelProject: "other"}, true},
		{"p_data", nil, false},
		{"p_data", map[string]string{dockerapi.LabelAnonymous: ""}, true},
		{strings.ToUpper(hex), nil, false},
		{hex[:63], nil, false},
	} {
		if got := dockerapi.IsAnonymousVolume(tc.name, tc.labels, "p"); got != tc.want {
			t.Errorf("IsAnonymousVolume(%.12s…, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "[]",
		"/a/docker-compose.yml": "[/a/docker-compose.yml]",
		"/a/x.yml,/a/y.yml":     "[/a/x.yml /a/y.yml]",
		" /a/x.yml , ,/a/y.yml": "[/a/x.yml /a/y.yml]",
	} {
		if got := fmt.Sprint(dockerapi.SplitList(in)); got != want {
			t.Errorf("SplitList(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestExportSource(t *testing.T) {
	vol := func(name, dest string) dockerapi.Mount {
		return dockerapi.Mount{Type: "volume", Name: name, Destination: dest}
	}
	bind := func(dest string) dockerapi.Mount {
		return dockerapi.Mount{Type: "bind", Source: "/host", Destination: dest}
	}
	for _, tc := range []struct {
		name       string
		containers []dockerapi.Container
		want       string
	}{
		{"simple", []dockerapi.Container{{ID: "1", Mounts: []dockerapi.Mount{vol("v", "/data")}}}, "1:/data"},
		{"not mounted", []dockerapi.Container{{ID: "1", Mounts: []dockerapi.Mount{vol("w", "/data")}}}, ""},
		{"nested bind skips the first", []dockerapi.Container{
			{ID: "1", Mounts: []dockerapi.Mount{vol("v", "/data"), bind("/data/cache")}},
			{ID: "2", Mounts: []dockerapi.Mount{vol("v", "/srv/v")}}}, "2:/srv/v"},
		{"sibling prefix is not nested", []dockerapi.Container{{ID: "1", Mounts: []dockerapi.Mount{vol("v", "/data"), bind("/data2")}}}, "1:/data"},
		{"nested volume", []dockerapi.Container{{ID: "1", Mounts: []dockerapi.Mount{vol("v", "/data"), vol("x", "/data/x")}}}, ""},
		{"subpath", []dockerapi.Container{{ID: "1", Mounts: []dockerapi.Mount{{Type: "volume", Name: "v", Destination: "/d", Subpath: "sub"}}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, _, dest, ok := dockerapi.ExportSource(dockerapi.Stack{Containers: tc.containers}, "v")
			got := ""
			if ok {
				got = id + ":" + dest
			}
			if got != tc.want {
				t.Errorf("ExportSource = %q, want %q", got, tc.want)
			}
		})
	}
	if !dockerapi.HasNestedMount([]dockerapi.Mount{{Destination: "/"}, {Destination: "/x"}}, "/") {
		t.Error("everything nests under /")
	}
}

func TestOrderTagsAndRefs(t *testing.T) {
	if got := fmt.Sprint(dockerapi.OrderTags([]string{"z:1", "<none>:<none>", "a:1", "app:latest"}, "docker.io/library/app")); got != "[app:latest a:1 z:1]" {
		t.Errorf("OrderTags = %s", got)
	}
	if got := fmt.Sprint(dockerapi.OrderTags([]string{"b:1", "a:1"}, "")); got != "[a:1 b:1]" {
		t.Errorf("OrderTags = %s", got)
	}
	for in, want := range map[string]string{
		"app":                               "app:latest",
		"docker.io/library/app:1":           "app:1",
		"registry:5000/x/y:2":               "registry:5000/x/y:2",
		"sha256:" + strings.Repeat("0", 64): "sha256:" + strings.Repeat("0", 64),
		"Not A Ref":                         "Not A Ref",
	} {
		if got := dockerapi.NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]bool{
		"sha256:" + strings.Repeat("a", 64): true,
		strings.Repeat("a", 12):             true,
		"abc":                               false,
		"app:1":                             false,
		"sha256:xyz":                        false,
	} {
		if _, got := dockerapi.ImageIDRef(in); got != want {
			t.Errorf("ImageIDRef(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestImageSaveRef(t *testing.T) {
	if got := (dockerapi.Image{ID: "sha256:1", RepoTags: []string{"a:1", "b:2"}}).SaveRef(); got != "a:1" {
		t.Errorf("SaveRef = %s", got)
	}
	if got := (dockerapi.Image{ID: "sha256:1"}).SaveRef(); got != "sha256:1" {
		t.Errorf("SaveRef = %s", got)
	}
}

func TestVolumeSpecValidate(t *testing.T) {
	for name, ok := range map[string]bool{"p_data": true, "a": false, "": false, "-x": false, "x/y": false, "db.v1-2": true} {
		err := dockerapi.VolumeSpec{Name: name}.Validate()
		if (err == nil) != ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
