package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlab/authlab/lb"
)

func TestChildEnv(t *testing.T) {
	tests := []struct {
		name          string
		env, gwArgs   []string
		wantGenerated []string
		wantEnv       []string // entries that must be present
		wantArgs      []string // the children's arguments
		wantMoved     []string
		wantNoAdmin   bool
	}{
		{
			name:          "nothing given: everything generated, instance token handed down",
			wantGenerated: []string{"assertion-key", "fingerprint-key", "jwt-secret", "jwt-ed25519-seed"},
			wantEnv:       []string{"AUTHLAB_ADMIN_TOKEN=inst-token"},
		},
		{
			name:          "environment wins",
			env:           []string{"AUTHLAB_ASSERTION_KEY=k1", "AUTHLAB_JWT_SECRET=s1"},
			wantGenerated: []string{"fingerprint-key", "jwt-ed25519-seed"},
			wantEnv:       []string{"AUTHLAB_ASSERTION_KEY=k1", "AUTHLAB_JWT_SECRET=s1"},
		},
		{
			name:          "gateway args win, and move to the environment",
			gwArgs:        []string{"--strategy", "jwt", "--fingerprint-key=x", "-jwt-ed25519-seed", "y", "--admin-token", "gw", "--jwt-denylist"},
			wantGenerated: []string{"assertion-key", "jwt-secret"},
			wantEnv:       []string{"AUTHLAB_FINGERPRINT_KEY=x", "AUTHLAB_JWT_ED25519_SEED=y", "AUTHLAB_ADMIN_TOKEN=gw"},
			wantArgs:      []string{"--strategy", "jwt", "--jwt-denylist"},
			wantMoved:     []string{"fingerprint-key", "jwt-ed25519-seed", "admin-token"},
			wantNoAdmin:   true,
		},
		{
			name:          "empty environment value does not count",
			env:           []string{"AUTHLAB_ASSERTION_KEY="},
			wantGenerated: []string{"assertion-key", "fingerprint-key", "jwt-secret", "jwt-ed25519-seed"},
		},
		{
			name: "the lb's own secrets stay with the lb",
			env: []string{"AUTHLAB_ADMIN_TOKEN=lb-token", "AUTHLAB_COOKIE_KEY=ck", "AUTHLAB_INSTANCE_ADMIN_TOKEN=inst-token",
				"AUTHLAB_ASSERTION_KEY=k", "AUTHLAB_FINGERPRINT_KEY=f", "AUTHLAB_JWT_SECRET=s", "AUTHLAB_JWT_ED25519_SEED=e", "HOME=/h"},
			wantEnv: []string{"AUTHLAB_ADMIN_TOKEN=inst-token", "HOME=/h"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var generated []string
			got, args, moved := childEnv(tt.env, tt.gwArgs, "inst-token", func(name, value string) {
				if len(value) < 32 {
					t.Errorf("generated %s is only %d bytes", name, len(value))
				}
				generated = append(generated, name)
			})
			if !slices.Equal(generated, tt.wantGenerated) {
				t.Errorf("generated %v, want %v", generated, tt.wantGenerated)
			}
			for _, w := range tt.wantEnv {
				if !slices.Contains(got, w) {
					t.Errorf("env lacks %q: %v", w, got)
				}
			}
			if !slices.Equal(args, tt.wantArgs) || !slices.Equal(moved, tt.wantMoved) {
				t.Errorf("args %q moved %q, want %q and %q", args, moved, tt.wantArgs, tt.wantMoved)
			}
			hasAdmin := slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, "AUTHLAB_ADMIN_TOKEN=inst-token") })
			if hasAdmin == tt.wantNoAdmin {
				t.Errorf("instance token handed down = %v, want %v", hasAdmin, !tt.wantNoAdmin)
			}
			admins := 0
			for _, e := range got {
				if strings.HasPrefix(e, "AUTHLAB_COOKIE_KEY=") || strings.HasPrefix(e, "AUTHLAB_INSTANCE_ADMIN_TOKEN=") || e == "AUTHLAB_ADMIN_TOKEN=lb-token" {
					t.Errorf("the lb's own secret %q reaches the children", e)
				}
				if strings.HasPrefix(e, "AUTHLAB_ADMIN_TOKEN=") {
					admins++
				}
			}
			if admins != 1 {
				t.Errorf("%d AUTHLAB_ADMIN_TOKEN entries, want 1: %v", admins, got)
			}
		})
	}
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput polls out until re matches, and returns the submatches.
func waitOutput(t *testing.T, out *syncBuffer, re *regexp.Regexp, done <-chan error) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("command ended (%v) before printing %s:\n%s", err, re, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in:\n%s", re, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sourceEnv reads the export lines of an env file written by secret.WriteEnvFile.
func sourceEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			k, v, _ := strings.Cut(rest, "=")
			vars[k] = strings.Trim(v, "'")
		}
	}
	return vars
}

// TestRunLBSecretsAndPlanes runs `authlab lb` over an external instance:
// the generated admin token is written to a 0600 file (never printed), the
// admin API answers on --admin-listen only, and the file is gone at exit.
func TestRunLBSecretsAndPlanes(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","instance":"ext"}`)
	}))
	defer gw.Close()
	t.Setenv("AUTHLAB_ADMIN_TOKEN", "")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runLB(ctx, []string{"--instances", "0", "--instance-addr", strings.TrimPrefix(gw.URL, "http://"),
			"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--secrets-dir", dir, "--log-level", "warn"}, &stdout, &stderr)
	}()
	m := waitOutput(t, &stdout, regexp.MustCompile(`lb listening on (http://\S+) \(admin: (http://\S+)\)`), done)
	data, admin := m[1], m[2]
	f := waitOutput(t, &stdout, regexp.MustCompile(`written to (\S+) `), done)
	vars := sourceEnv(t, f[1])
	token := vars["AUTHLAB_LB_ADMIN_TOKEN"]
	if len(token) < 32 {
		t.Fatalf("env file %v lacks the generated admin token", vars)
	}
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Fatalf("the admin token was printed:\n%s\n%s", stdout.String(), stderr.String())
	}
	get := func(url string) int {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(admin + "/_lb/instances"); code != 200 {
		t.Errorf("admin API with the file's token: %d", code)
	}
	if code := get(data + "/_lb/instances"); code != 404 {
		t.Errorf("admin API on the data port: %d, want 404", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("lb: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(f[1]); !os.IsNotExist(err) {
		t.Errorf("secrets file %s still exists after exit (%v)", f[1], err)
	}
}

func TestRunLBTokenErrors(t *testing.T) {
	t.Setenv("AUTHLAB_ADMIN_TOKEN", "")
	t.Setenv("AUTHLAB_INSTANCE_ADMIN_TOKEN", "")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"external admin needs the instances' token", []string{"--instances", "0", "--instance-addr", "127.0.0.1:1@127.0.0.1:2"}, "--instance-admin-token"},
		{"tokens must differ", []string{"--instances", "0", "--instance-addr", "127.0.0.1:1",
			"--admin-token", "same-token-0123456789", "--instance-admin-token", "same-token-0123456789"}, "must differ"},
		{"bad external", []string{"--instances", "0", "--instance-addr", "nope"}, "--instance-addr"},
		{"lb sets --admin-listen", []string{"--", "--admin-listen", "127.0.0.1:9"}, "--admin-listen"},
		{"negative upstream latency", []string{"--upstream-latency", "-1ms"}, "must be ≥ 0"},
		{"negative upstream jitter", []string{"--upstream-latency", "1ms", "--upstream-jitter", "-5us"}, "must be ≥ 0"},
		{"upstream latency before an external instance", []string{"--instances", "0", "--instance-addr", "127.0.0.1:1",
			"--upstream-latency", "2ms"}, "not to --instance-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb syncBuffer
			err := runLB(context.Background(), append(tt.args, "--secrets-dir", t.TempDir(), "--log-level", "error"), &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestParseLBFlags: flags and AUTHLAB_* variables land in the lb's Config
// (defaults included), the gateway arguments after -- are kept apart, and
// external instances are parsed.
func TestParseLBFlags(t *testing.T) {
	t.Setenv("AUTHLAB_HEALTH_RISE", "4")
	f, err := parseLBFlags([]string{"--policy", "sticky", "--retry", "--instances", "2", "--health-fall", "5",
		"--instance-addr", "127.0.0.1:1@127.0.0.1:2,127.0.0.1:3", "--", "--strategy", "jwt"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.parseInstances(); err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.Policy != lb.Sticky || !c.Retry || c.Instances != 2 || c.HealthFall != 5 || c.HealthRise != 4 {
		t.Errorf("cfg %+v: want sticky, retry, 2 instances, fall 5 (flag), rise 4 (environment)", c)
	}
	if c.MaxRetryBody != 64<<10 || c.StartupTimeout != 30*time.Second || c.HealthPath != "/healthz" || c.MaxIdleConnsPerHost != 1024 {
		t.Errorf("cfg %+v: defaults not applied", c)
	}
	want := []lb.External{{Addr: "127.0.0.1:1", AdminAddr: "127.0.0.1:2"}, {Addr: "127.0.0.1:3"}}
	if !slices.Equal(c.External, want) {
		t.Errorf("external %+v, want %+v", c.External, want)
	}
	if !slices.Equal(f.gwArgs, []string{"--strategy", "jwt"}) {
		t.Errorf("gateway args %q", f.gwArgs)
	}
}
