package consistency_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dockpack/dockpack/backup/consistency"
)

func TestParseLabels(t *testing.T) {
	c, err := consistency.Parse("db", map[string]string{
		"dockpack.pre-backup":     `/testapp note /data/log "pre db"`,
		"dockpack.post-backup":    `/testapp say 'all done'`,
		"dockpack.hook-timeout":   "90",
		"dockpack.hook-on-error":  "Continue",
		"dockpack.dump":           "/testapp db-dump /data",
		"dockpack.dump-ext":       ".txt",
		"dockpack.dump-timeout":   "10m",
		"dockpack.restore-dump":   "/testapp db-load /data",
		"dockpack.volumes":        "exclude",
		"com.docker.compose.x":    "ignored",
		"dockpack.something-else": "ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := consistency.Config{Service: "db", Pre: []string{"/testapp", "note", "/data/log", "pre db"}, Post: []string{"/testapp", "say", "all done"},
		HookTimeout: 90 * time.Second, OnError: consistency.OnErrorContinue, Dump: []string{"/testapp", "db-dump", "/data"}, DumpExt: "txt",
		DumpTimeout: 10 * time.Minute, RestoreDump: []string{"/testapp", "db-load", "/data"}, ExcludeVolumes: true,
		ExcludeReason: "the dump dumps/db.txt is the source of truth"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if c.DumpFile() != "dumps/db.txt" || !c.HasDump() || !c.HasHooks() || c.Empty() {
		t.Fatalf("helpers: %s %v %v %v", c.DumpFile(), c.HasDump(), c.HasHooks(), c.Empty())
	}
}

func TestParseDefaultsAndErrors(t *testing.T) {
	c, err := consistency.Parse("app", nil)
	if err != nil || c.HookTimeout != consistency.DefaultHookTimeout || c.OnError != consistency.OnErrorFail || c.DumpExt != "dump" || !c.Empty() {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = consistency.Parse("cache", map[string]string{"dockpack.volumes": "exclude", "dockpack.exclude-reason": "rebuilt on start"})
	if err != nil || c.ExcludeReason != "rebuilt on start" {
		t.Fatalf("reason: %+v %v", c, err)
	}
	c, _ = consistency.Parse("cache", map[string]string{"dockpack.volumes": "exclude"})
	if !strings.Contains(c.ExcludeReason, "dockpack.volumes=exclude") {
		t.Fatalf("default reason %q", c.ExcludeReason)
	}
	_, err = consistency.Parse("db", map[string]string{
		"dockpack.hook-timeout": "soon", "dockpack.hook-on-error": "maybe", "dockpack.volumes": "some",
		"dockpack.preset": "oracle", "dockpack.pre-backup": `echo "open`, "dockpack.dump-ext": "a/b", "dockpack.restore-dump": "x",
	})
	for _, want := range []string{"dockpack.hook-timeout", "dockpack.hook-on-error", "dockpack.volumes", "unknown preset (known: mysql, mariadb, postgres, redis, valkey, mongodb)",
		"unterminated", "dockpack.dump-ext", "dockpack.restore-dump is set but there is no dockpack.dump", "service db"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestPresetLabelThenExplicitLabelsWin(t *testing.T) {
	c, err := consistency.Parse("mysql", map[string]string{"dockpack.preset": "MySQL", "dockpack.dump-ext": "sql.txt"})
	if err != nil || c.Preset != "mysql" || c.DumpExt != "sql.txt" || c.Dump[0] != "/bin/sh" || len(c.RestoreDump) == 0 {
		t.Fatalf("%+v %v", c, err)
	}
	c, _ = consistency.Parse("cache", map[string]string{"dockpack.preset": "redis", "dockpack.dump": "my-dump"})
	if !reflect.DeepEqual(c.Dump, []string{"my-dump"}) || c.DumpExt != "rdb" || !c.RestoreStops {
		t.Fatalf("%+v", c)
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                      {"a", "b", "c"},
		`sh -c 'echo "$X" | wc -c'`:   {"sh", "-c", `echo "$X" | wc -c`},
		`say "a \"q\" \$x \n"`:        {"say", `a "q" $x \n`},
		`a\ b c\'d`:                   {"a b", "c'd"},
		`x''y "" ''`:                  {"xy", "", ""},
		"tab\there\nnewline":          {"tab", "here", "newline"},
		`/testapp note /data/h "pre"`: {"/testapp", "note", "/data/h", "pre"},
	} {
		c, err := consistency.Parse("s", map[string]string{"dockpack.pre-backup": in})
		if err != nil || !reflect.DeepEqual(c.Pre, want) {
			t.Errorf("%q: %q %v, want %q", in, c.Pre, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `a 'b`, `a "b`, `a\`} {
		if _, err := consistency.Parse("s", map[string]string{"dockpack.pre-backup": bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLabelTableIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range consistency.Fields() {
		if !strings.HasPrefix(f.Label, "dockpack.") || f.Doc == "" || f.Example == "" || f.Value == "" || seen[f.Label] {
			t.Errorf("field %+v", f)
		}
		seen[f.Label] = true
		// Every example parses.
		labels := map[string]string{f.Label: f.Example}
		if f.Label == consistency.LabelRestoreDump {
			labels[consistency.LabelDump] = "x"
		}
		if _, err := consistency.Parse("s", labels); err != nil {
			t.Errorf("example of %s: %v", f.Label, err)
		}
	}
	if !consistency.HasLabels(map[string]string{"dockpack.dump": "x"}) || consistency.HasLabels(map[string]string{"dockpack.test": "1"}) {
		t.Error("HasLabels")
	}
	if got := consistency.Describe(map[string]string{"dockpack.volumes": "exclude", "dockpack.dump": "d", "x": "y"}); got != "dockpack.dump=d; dockpack.volumes=exclude" {
		t.Errorf("Describe: %s", got)
	}
}

// docs/consistency.md documents every label and every preset.
func TestDocsListEveryLabelAndPreset(t *testing.T) {
	b, err := os.ReadFile("../../docs/consistency.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range consistency.Fields() {
		if !strings.Contains(doc, "`"+f.Label+"`") {
			t.Errorf("docs/consistency.md does not document %s", f.Label)
		}
	}
	for _, p := range consistency.PresetNames() {
		if !strings.Contains(doc, "| `"+p+"` |") {
			t.Errorf("docs/consistency.md has no row for the preset %s", p)
		}
	}
}
