package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSweepFlagErrors: bad input is refused with a message naming the
// flag and exit 1, before anything is started.
func TestSweepFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown strategy", []string{"--strategy", "sticky"}, "--strategy sticky: the sweeps are opaque"},
		{"unknown jwt sweep", []string{"--strategy", "jwt", "--sweep", "rsa"}, `--sweep: "rsa" is not a jwt sweep`},
		{"empty jwt sweep", []string{"--strategy", "jwt", "--sweep", ""}, "--sweep is empty"},
		{"bad access ttls", []string{"--strategy", "jwt", "--access-ttls", "1m,soon"}, `--access-ttls: "soon" is not a positive duration`},
		{"ttl below a second once scaled", []string{"--strategy", "jwt", "--sweep", "access-ttl", "--access-ttls", "30s"}, "runs as 500ms"},
		{"bad time scale", []string{"--strategy", "jwt", "--sweep", "access-ttl", "--time-scale", "0"}, "--time-scale 0"},
		{"time scale not a number", []string{"--strategy", "jwt", "--time-scale", "fast"}, "invalid value"},
		{"repeat zero", []string{"--strategy", "jwt", "--sweep", "alg", "--repeat", "0"}, "--repeat 0"},
		{"denylist token expiring in steady", []string{"--strategy", "jwt", "--sweep", "denylist", "--denylist-access-ttl", "5s", "--duration", "10s"}, "must exceed --duration"},
		{"refresh ahead of the whole token", []string{"--strategy", "jwt", "--sweep", "access-ttl", "--refresh-ahead", "2m"}, "--refresh-ahead 2m0s"},
		{"opaque flag with jwt", []string{"--strategy", "jwt", "--ttls", "1s"}, "--ttls does not apply to the jwt sweeps"},
		{"jwt flags with opaque", []string{"--repeat", "2", "--time-scale", "30"}, "--repeat, --time-scale do not apply to the opaque sweep"},
		{"bad opaque ttls", []string{"--ttls", "1s,x"}, `--ttls: "x" is not a positive duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"sweep", "--out", t.TempDir()}, tt.args...), &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Fatalf("stderr lacks %q:\n%s", tt.wantErr, errb.String())
			}
			if strings.Contains(errb.String(), "point 1 of") {
				t.Fatalf("a point started despite the bad input:\n%s", errb.String())
			}
		})
	}
}
