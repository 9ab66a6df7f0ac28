package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSizes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"1k,10k,100k,1M", []int{1000, 10_000, 100_000, 1_000_000}, false},
		{"500, 2K", []int{500, 2000}, false},
		{"1G", nil, true},
		{"0", nil, true},
		{"-5", nil, true},
		{"", nil, true},
		{"k", nil, true},
	} {
		got, err := parseSizes(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestScaleFlagErrors: bad input is refused with a message and exit 1,
// before anything is started or written.
func TestScaleFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown strategy", []string{"--strategies", "kerberos"}, `unknown strategy "kerberos"`},
		{"descending sizes", []string{"--sizes", "10k,1k"}, "sizes must ascend"},
		{"too many sessions", []string{"--sizes", "2M"}, "must be 1..1000000"},
		{"bad size", []string{"--sizes", "lots"}, `--sizes: "lots" is not a positive count`},
		{"bad storm rate", []string{"--storm-rates", "100,x"}, `--storm-rates: rate "x"`},
		{"skew of one", []string{"--user-skew", "1"}, "probe skew 1"},
		{"probe without duration", []string{"--probe-duration", "0s"}, "probe rate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"scale", "--out", out}, tt.args...), &stdout, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), tt.wantErr)
			}
			if entries, _ := os.ReadDir(filepath.Join(out, "scale")); len(entries) != 0 {
				t.Fatalf("a refused run wrote %d run directories", len(entries))
			}
		})
	}
}
