package backend

import (
	"os/exec"
	"strings"
	"testing"
)

// TestServicesTrustOnlyTheAssertion: the backend and the auth service know
// nothing of how credentials travel. Neither imports a strategies package,
// directly or through another package (the backend trusts the signed
// assertion alone; the auth service returns its own errors).
func TestServicesTrustOnlyTheAssertion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH")
	}
	for _, pkg := range []string{
		"github.com/authlab/authlab/services/backend",
		"github.com/authlab/authlab/services/auth",
		"github.com/authlab/authlab/internal/assertion",
	} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/authlab/authlab/strategies") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
