package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/authlab/authlab/"

type pkg struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // everything linked in
}

func loadPackages(t *testing.T) map[string]pkg {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	pkgs := map[string]pkg{}
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, module)] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path string, prefixes ...string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// TestImportRules: the rules ARCHITECTURE.md states, checked on the real
// import graph. Each rule names who it constrains (by package prefix), what
// they may not depend on, and whether it counts direct imports or
// everything linked in.
func TestImportRules(t *testing.T) {
	pkgs := loadPackages(t)
	implementations := []string{"strategies/none", "strategies/sticky", "strategies/redissession", "strategies/jwtauth", "strategies/opaque"}
	rules := []struct {
		name       string
		who        []string
		except     []string
		forbidden  []string // module-relative prefixes, or full paths for others
		transitive bool
	}{
		{"the services trust only the signed assertion: no strategies",
			[]string{"services/backend", "services/auth", "internal/assertion", "internal/identity"}, nil,
			[]string{"strategies"}, true},
		{"strategies know no HTTP framework, no service, lb or harness",
			[]string{"strategies"}, nil,
			[]string{"services", "lb", "bench", "cmd", "github.com/gin-gonic/gin"}, true},
		{"only the catalogue imports strategy implementations",
			[]string{""}, append([]string{"strategies/catalog"}, implementations...),
			implementations, false},
		{"the lb knows no strategy, service or harness",
			[]string{"lb"}, nil,
			[]string{"strategies", "services", "bench", "cmd"}, true},
		{"internal packages are leaves: no service, lb, harness or command",
			[]string{"internal"}, []string{"internal/archtest"},
			[]string{"services", "lb", "bench", "cmd"}, true},
		{"the embedded Redis fallback is linked only where it is used",
			[]string{"services", "lb", "strategies", "internal"}, []string{"internal/redisx/redisserver", "internal/redisx/redistest"},
			[]string{"github.com/alicebob/miniredis/v2"}, true},
		{"reports render data; they drive nothing",
			[]string{"bench/report", "bench/stats"}, nil,
			[]string{"bench/load", "bench/scenario", "bench/topology", "bench/measure", "bench/demo", "bench/lbbench", "lb", "services"}, false},
		{"nothing imports a command",
			[]string{""}, nil, []string{"cmd"}, true},
	}
	for _, r := range rules {
		for path, p := range pkgs {
			if !under(path, r.who...) && !(len(r.who) == 1 && r.who[0] == "") {
				continue
			}
			if under(path, r.except...) {
				continue
			}
			deps := p.Imports
			if r.transitive {
				deps = p.Deps
			}
			for _, d := range deps {
				rel := strings.TrimPrefix(d, module)
				if rel == path {
					continue
				}
				if under(rel, r.forbidden...) || under(d, r.forbidden...) {
					t.Errorf("%s: %s depends on %s", r.name, path, rel)
				}
			}
		}
	}
}
