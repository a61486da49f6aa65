package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dockpack/dockpack/backup/settings"
)

// Both READMEs' configuration tables list every setting of the field table
// with its flag, variable and YAML key, so adding a setting without its row
// fails here.
func TestReadmesListEverySetting(t *testing.T) {
	for _, readme := range []string{"../../README.md", "../../README.zh-CN.md"} {
		b, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range settings.Fields() {
			row := fmt.Sprintf("| `--%s` | `%s` | `settings.%s` |", f.Flag, f.Env, f.Name)
			if !strings.Contains(string(b), row) {
				t.Errorf("%s has no row %q", readme, row)
			}
		}
	}
}
