package tangled_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tangled-ledger/tangled"

// allowed is DESIGN.md's dependency direction: the in-module packages each
// package may import from its non-test files. Arrows point down only; a new
// package must be added here before it can build its imports. Test files
// are free to import more (a dag test may use the storage package).
var allowed = map[string][]string{
	"pow":         {},
	"dag":         {"pow"},
	"dag/dagtest": {"dag", "pow"},
	// The tests' one poll helper; test files of any package may import it.
	"internal/poll": {},
	"tipselect":     {"dag"},
	"storage":       {"dag"},
	"network":       {"dag"},
	"api":           {"dag", "device", "device/policy", "evidence", "merkle", "pow"},
	"device":        {"dag", "device/policy"},
	// CEL policies: compile and evaluate, knowing nothing of the ledger.
	"device/policy": {},
	// RFC 6962 Merkle trees and proofs for the audit log: pure.
	"merkle": {},
	// The audit log: canonical order, checkpoints, bundles and their
	// offline verification.
	"evidence":  {"dag", "merkle", "device", "device/policy", "pow"},
	"client":    {"dag", "pow", "device", "device/policy", "evidence", "merkle"},
	"node":      {"*"},
	"bench":     {"dag", "dag/dagtest", "tipselect", "pow", "storage", "node", "client"},
	"bench/sim": {"dag", "dag/dagtest", "tipselect", "pow"},
	// The CLI also names dag's types (IDs, kinds) in flags and output.
	"cmd/tangled": {"node", "bench", "bench/sim", "client", "dag", "device", "device/policy", "evidence", "merkle", "pow"},
}

func TestDependencyDirection(t *testing.T) {
	imports := map[string]map[string]bool{} // package dir -> in-module imports
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "docs") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if imports[dir] == nil {
			imports[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if rest, ok := strings.CutPrefix(p, module+"/"); ok {
				imports[dir][rest] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) == 0 {
		t.Fatal("found no packages: is the test running from the module root?")
	}
	for dir, deps := range imports {
		if dir == "." {
			continue
		}
		rule, ok := allowed[dir]
		if !ok {
			t.Errorf("package %s is not in the dependency table (deps_test.go); add it with the imports DESIGN.md allows", dir)
			continue
		}
		if slices.Contains(rule, "*") {
			continue
		}
		for dep := range deps {
			if !slices.Contains(rule, dep) {
				t.Errorf("%s imports %s, which DESIGN.md's dependency direction forbids", dir, dep)
			}
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatalf("not at the module root: %v", err)
	}
}
