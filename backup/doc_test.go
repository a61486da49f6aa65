package backup_test

import (
	"go/parser"
	"go/token"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dockpack/dockpack/"

// packageMap reads the arrows of the package map in doc.go: "pkg → dep dep …".
func packageMap(t *testing.T) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	arrows := map[string][]string{}
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		from, to, ok := strings.Cut(line, "→")
		if !ok {
			continue
		}
		arrows[strings.TrimSpace(from)] = strings.Fields(to)
	}
	if len(arrows) < 10 {
		t.Fatalf("doc.go's package map has %d arrows lines: %v", len(arrows), arrows)
	}
	return arrows
}

// moduleImports lists each package of the module (non-test files, default
// build) with the module packages it imports.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var deps []string
		for _, d := range f[1:] {
			if strings.HasPrefix(d, module) {
				deps = append(deps, strings.TrimPrefix(d, module))
			}
		}
		imports[strings.TrimPrefix(f[0], module)] = deps
	}
	return imports
}

// helper: imported by anyone, imports no package with arrows.
func helper(p string) bool {
	return p == "backup/internal/sentinel" || strings.HasPrefix(p, "internal/") && p != "internal/metrics" && !testSupport(p)
}

func testSupport(p string) bool {
	return slices.Contains([]string{"backup/backuptest", "dockerapi/dockertest", "internal/testapp", "cmd/dockpack/testseams"}, p)
}

// TestPackageMap holds the module's imports to the arrows of the package
// map in doc.go, both ways: an import the map does not show fails, and so
// does an arrow no import uses (the map stays exact).
func TestPackageMap(t *testing.T) {
	arrows := packageMap(t)
	imports := moduleImports(t)
	for p, deps := range imports {
		if testSupport(p) || strings.HasPrefix(p, "examples/") || p == "integration" {
			continue // test support and programs using the library as any program would
		}
		for _, d := range deps {
			switch {
			case testSupport(d):
				t.Errorf("%s imports the test support %s", p, d)
			case helper(d):
			case !slices.Contains(arrows[p], d):
				t.Errorf("%s imports %s: an arrow the package map in backup/doc.go does not show (add it there if it belongs, with its reason)", p, d)
			}
		}
		if helper(p) {
			for _, d := range deps {
				if !helper(d) {
					t.Errorf("the helper %s imports %s: a helper imports only helpers", p, d)
				}
			}
		}
	}
	for p, deps := range arrows {
		if _, ok := imports[p]; !ok {
			t.Errorf("the package map in backup/doc.go names %s, which does not exist", p)
			continue
		}
		for _, d := range deps {
			if !slices.Contains(imports[p], d) {
				t.Errorf("the package map in backup/doc.go shows %s → %s, which no import uses: remove the arrow", p, d)
			}
		}
	}
}
