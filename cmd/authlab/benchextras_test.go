package main

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/authlab/authlab/bench"
)

func TestBenchExtras(t *testing.T) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e := registerBenchExtras(fs)
	if err := fs.Parse([]string{"--floor=false", "--cost-rates", "100, 400", "--cost-window", "3s"}); err != nil {
		t.Fatal(err)
	}
	var cfg bench.Config
	e.apply(&cfg)
	if cfg.Floor || !cfg.Micro || !slices.Equal(cfg.CostRates, []float64{100, 400}) || cfg.CostWindow != 3*time.Second {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []string{"100,x", "100,-1"} {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		registerBenchExtras(fs)
		if err := fs.Parse([]string{"--cost-rates", bad}); err == nil {
			t.Errorf("--cost-rates %s accepted", bad)
		}
	}
}
