package cliflag

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantPort int
		wantKey  string
		wantTTL  time.Duration
		wantErr  string
	}{
		{name: "defaults", wantPort: 8080, wantKey: "", wantTTL: time.Minute},
		{name: "env only", env: map[string]string{"AUTHLAB_JWT_SECRET": "s3", "AUTHLAB_PORT": "9"}, wantPort: 9, wantKey: "s3", wantTTL: time.Minute},
		{name: "flag beats env", args: []string{"--port", "7"}, env: map[string]string{"AUTHLAB_PORT": "9"}, wantPort: 7, wantTTL: time.Minute},
		{name: "duration from env", env: map[string]string{"AUTHLAB_ACCESS_TTL": "5s"}, wantPort: 8080, wantTTL: 5 * time.Second},
		{name: "bad env value", env: map[string]string{"AUTHLAB_PORT": "x"}, wantErr: "AUTHLAB_PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			port := fs.Int("port", 8080, "")
			key := fs.String("jwt-secret", "", "")
			ttl := fs.Duration("access-ttl", time.Minute, "")
			err := Parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *port != tt.wantPort || *key != tt.wantKey || *ttl != tt.wantTTL {
				t.Fatalf("got port=%d key=%q ttl=%v", *port, *key, *ttl)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("jwt-secret"); got != "AUTHLAB_JWT_SECRET" {
		t.Fatalf("EnvName = %q", got)
	}
}
