package microbench

import (
	"context"
	"flag"
	"slices"
	"testing"

	"github.com/authlab/authlab/internal/redisx/redistest"
	"github.com/authlab/authlab/strategies/catalog"
)

func TestStrategyArgs(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	catalog.Register(fs)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"none", nil, nil},
		{"bool strategy flag", []string{"--jwt-denylist"}, []string{"--jwt-denylist"}},
		{"valued strategy flag, separate", []string{"--jwt-alg", "EdDSA"}, []string{"--jwt-alg", "EdDSA"}},
		{"valued strategy flag, inline", []string{"-jwt-alg=EdDSA"}, []string{"-jwt-alg=EdDSA"}},
		{"gateway flags dropped with their values", []string{"--log-level", "debug", "--jwt-denylist", "--secure-cookies", "--jwt-alg", "EdDSA"},
			[]string{"--jwt-denylist", "--jwt-alg", "EdDSA"}},
		{"bool strategy flag before a value-looking arg", []string{"--jwt-denylist", "stray"}, []string{"--jwt-denylist"}},
	}
	for _, tc := range tests {
		if got := strategyArgs(fs, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("%s: strategyArgs(%q) = %q, want %q", tc.name, tc.args, got, tc.want)
		}
	}
}

// TestRunEveryStrategy: every strategy of the catalogue builds in process
// and its Authenticate is benchmarked over live credentials.
func TestRunEveryStrategy(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmarks every strategy")
	}
	if f := flag.Lookup("test.benchtime"); f != nil {
		old := f.Value.String()
		_ = f.Value.Set("50ms")
		defer func() { _ = f.Value.Set(old) }()
	}
	srv := redistest.Start(t)
	for _, name := range catalog.Names() {
		t.Run(name, func(t *testing.T) {
			args := []string{"--log-level", "warn"}
			if name == "jwt" {
				args = append(args, "--jwt-denylist")
			}
			m, err := Run(context.Background(), Config{Strategy: name, RedisURL: srv.URL(), Args: args, Sessions: 5})
			if err != nil {
				t.Fatal(err)
			}
			if m.N <= 0 || m.NsPerOp <= 0 || m.AllocsPerOp < 0 {
				t.Errorf("micro = %+v", m)
			}
		})
	}
	if _, err := Run(context.Background(), Config{Strategy: "kerberos"}); err == nil {
		t.Error("an unknown strategy was benchmarked")
	}
}
