package main

import (
	"io"
	"testing"
)

// TestFastPathFlag: --fast-path is on by default and turns off with
// --fast-path=false (Config.DisableFastPath).
func TestFastPathFlag(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		disable bool
	}{
		{nil, false},
		{[]string{"--fast-path"}, false},
		{[]string{"--fast-path=true"}, false},
		{[]string{"--fast-path=false"}, true},
	} {
		f, err := parseLBFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if f.cfg.DisableFastPath != tt.disable {
			t.Errorf("%v: DisableFastPath = %v, want %v", tt.args, f.cfg.DisableFastPath, tt.disable)
		}
	}
	if _, err := parseLBFlags([]string{"--fast-path=maybe"}, io.Discard); err == nil {
		t.Error("--fast-path=maybe accepted")
	}
}

// TestFastServeFlag: --fast-serve is off by default (Config.FastServe).
func TestFastServeFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--fast-serve"}, true},
		{[]string{"--fast-serve=false"}, false},
	} {
		f, err := parseLBFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if f.cfg.FastServe != tt.want {
			t.Errorf("%v: FastServe = %v, want %v", tt.args, f.cfg.FastServe, tt.want)
		}
	}
}
