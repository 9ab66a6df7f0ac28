package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no args", nil, 2, "usage: authlab"},
		{"help", []string{"help"}, 0, "commands:"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"gateway help", []string{"gateway", "-h"}, 0, "-strategy"},
		{"gateway help groups flags by strategy", []string{"gateway", "-h"}, 0, "\nstrategy jwt: "},
		{"gateway help lists a strategy's flags", []string{"gateway", "-h"}, 0, "-jwt-secret"},
		{"strategies", []string{"strategies"}, 0, "redis-session"},
		{"gateway unknown flag", []string{"gateway", "--nope"}, 1, "flag provided but not defined"},
		{"gateway unknown strategy", []string{"gateway", "--strategy", "kerberos"}, 1, "known strategies are"},
		{"gateway bad backend url", []string{"gateway", "--strategy", "none", "--backend-url", "ftp://x"}, 1, "--backend-url"},
		{"gateway short assertion key", []string{"gateway", "--strategy", "none", "--assertion-key", "short"}, 1, "--assertion-key"},
		{"gateway bad jwt alg", []string{"gateway", "--strategy", "jwt", "--jwt-alg", "RS256"}, 1, "--jwt-alg"},
		{"gateway stray argument", []string{"gateway", "extra"}, 1, "unexpected arguments"},
		{"gateway redis missing", []string{"gateway", "--strategy", "opaque", "--redis-url", ""}, 1, "needs Redis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String()+out.String(), tt.wantErr) {
				t.Fatalf("output lacks %q:\n%s%s", tt.wantErr, out.String(), errb.String())
			}
		})
	}
}

func TestEnvConfiguresFlags(t *testing.T) {
	t.Setenv("AUTHLAB_STRATEGY", "kerberos")
	var out, errb bytes.Buffer
	if code := run([]string{"gateway"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `"kerberos"`) {
		t.Fatalf("AUTHLAB_STRATEGY not applied: exit %d, %s", code, errb.String())
	}
}
