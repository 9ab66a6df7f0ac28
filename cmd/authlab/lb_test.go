package main

import (
	"slices"
	"strings"
	"testing"
)

func TestChildEnv(t *testing.T) {
	tests := []struct {
		name          string
		env, gwArgs   []string
		wantGenerated []string
		wantEnv       []string // entries that must be present
		wantNoAdmin   bool
	}{
		{
			name:          "nothing given: everything generated, admin token handed down",
			wantGenerated: []string{"assertion-key", "fingerprint-key", "jwt-secret", "jwt-ed25519-seed"},
			wantEnv:       []string{"AUTHLAB_ADMIN_TOKEN=lb-token"},
		},
		{
			name:          "environment wins",
			env:           []string{"AUTHLAB_ASSERTION_KEY=k1", "AUTHLAB_JWT_SECRET=s1"},
			wantGenerated: []string{"fingerprint-key", "jwt-ed25519-seed"},
			wantEnv:       []string{"AUTHLAB_ASSERTION_KEY=k1", "AUTHLAB_JWT_SECRET=s1"},
		},
		{
			name:          "gateway args win",
			gwArgs:        []string{"--strategy", "jwt", "--fingerprint-key=x", "-jwt-ed25519-seed", "y", "--admin-token", "gw"},
			wantGenerated: []string{"assertion-key", "jwt-secret"},
			wantNoAdmin:   true,
		},
		{
			name:          "empty environment value does not count",
			env:           []string{"AUTHLAB_ASSERTION_KEY="},
			wantGenerated: []string{"assertion-key", "fingerprint-key", "jwt-secret", "jwt-ed25519-seed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var generated []string
			got := childEnv(tt.env, tt.gwArgs, "lb-token", func(name, value string) {
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
			hasAdmin := slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, "AUTHLAB_ADMIN_TOKEN=lb-token") })
			if hasAdmin == tt.wantNoAdmin {
				t.Errorf("admin token handed down = %v, want %v", hasAdmin, !tt.wantNoAdmin)
			}
		})
	}
}
