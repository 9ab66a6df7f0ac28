package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/lb"
)

// TestPrintUpKeepsSecretsInTheEnvFile: up prints no secret, and every
// variable its curl lines use is set, to the right value, by sourcing the
// env file it names.
func TestPrintUpKeepsSecretsInTheEnvFile(t *testing.T) {
	topo := &topology.Topology{
		LBURL: "http://127.0.0.1:8000", LBAdminURL: "http://127.0.0.1:8001",
		AdminToken: "lb-admin-token-0123456789abcdef", InstanceAdminToken: "gw-admin-token-0123456789abcdef",
		Password: "user-password-0123", AdminPassword: "admin-password-0123",
		RedisURL: "redis://127.0.0.1:6379/0", RedisKind: "redis-server", RedisVersion: "7",
	}
	insts := []lb.InstanceInfo{{ID: "gw1", Address: "127.0.0.1:9001", AdminAddress: "127.0.0.1:9101", PID: 1}}
	values := map[string]string{
		"AUTHLAB_UP_LB_TOKEN": topo.AdminToken, "AUTHLAB_UP_GW_TOKEN": topo.InstanceAdminToken,
		"AUTHLAB_UP_PASSWORD": topo.Password, "AUTHLAB_UP_ADMIN_PASSWORD": topo.AdminPassword,
	}
	for _, strategy := range []string{"jwt", "sticky"} {
		path, err := secret.WriteEnvFile(t.TempDir(), "up-*.env", upSecrets(topo))
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		printUp(&out, topo, strategy, insts, path)
		text := out.String()
		for name, v := range values {
			if strings.Contains(text, v) {
				t.Errorf("%s: %s printed:\n%s", strategy, name, text)
			}
		}
		if !strings.Contains(text, ". "+path) || !strings.Contains(text, topo.LBAdminURL+"/_lb/instances") ||
			!strings.Contains(text, "http://127.0.0.1:9101/_admin/stats") {
			t.Errorf("%s: output lacks the source line or the admin URLs:\n%s", strategy, text)
		}
		used := regexp.MustCompile(`\$(AUTHLAB_UP_[A-Z_]+)`).FindAllStringSubmatch(text, -1)
		if len(used) < 3 {
			t.Fatalf("%s: curl lines use %v", strategy, used)
		}
		sourced := sourceEnv(t, path)
		for _, m := range used {
			if want, ok := values[m[1]]; !ok || sourced[m[1]] != want {
				t.Errorf("%s: $%s is %q after sourcing, want %q", strategy, m[1], sourced[m[1]], want)
			}
		}
		if sh, err := exec.LookPath("sh"); err == nil {
			got, err := exec.Command(sh, "-c", `. "$1" && printf %s "$AUTHLAB_UP_PASSWORD"`, "sh", path).Output()
			if err != nil || string(got) != topo.Password {
				t.Errorf("sourcing %s in sh gives %q, %v", path, got, err)
			}
		}
	}
}

func TestPrepareSecretsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := prepareSecretsDir(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Fatalf("secrets dir %s: %v %v", dir, st.Mode(), err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := prepareSecretsDir(filepath.Join(file, "sub")); err == nil {
		t.Fatal("a secrets dir under a regular file was accepted")
	}
}
