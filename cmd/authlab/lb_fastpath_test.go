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

// TestFastServeFlag: --fast-serve is on by default; --fast-serve=false
// sets Config.DisableFastServe.
func TestFastServeFlag(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		disable bool
	}{
		{nil, false},
		{[]string{"--fast-serve"}, false},
		{[]string{"--fast-serve=false"}, true},
		{[]string{"--fast-serve=0"}, true},
	} {
		f, err := parseLBFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if f.cfg.DisableFastServe != tt.disable {
			t.Errorf("%v: DisableFastServe = %v, want %v", tt.args, f.cfg.DisableFastServe, tt.disable)
		}
	}
	if _, err := parseLBFlags([]string{"--fast-serve=maybe"}, io.Discard); err == nil {
		t.Error("--fast-serve=maybe accepted")
	}
}
