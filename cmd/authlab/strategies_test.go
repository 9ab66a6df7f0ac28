package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/authlab/authlab/strategies/catalog"
)

func TestStrategiesNames(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"strategies", "--names"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got, want := out.String(), strings.Join(catalog.Names(), "\n")+"\n"; got != want {
		t.Fatalf("--names printed %q, want %q", got, want)
	}
}

// TestStrategiesListing: one entry per strategy, in display order: its
// name and summary, then a line with its needs and traits.
func TestStrategiesListing(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"strategies"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	var names []string
	for i, l := range lines {
		if l == "" || l[0] == ' ' {
			continue
		}
		name := strings.Fields(l)[0]
		d, err := catalog.Lookup(name)
		if err != nil {
			continue // the closing hint
		}
		names = append(names, name)
		if !strings.Contains(l, d.Summary) || i+1 >= len(lines) ||
			strings.TrimSpace(lines[i+1]) != "needs "+d.Needs.String()+"; "+d.Traits.String() {
			t.Errorf("%s entry:\n%s\n%s", name, l, lines[min(i+1, len(lines)-1)])
		}
	}
	if !slices.Equal(names, catalog.Names()) {
		t.Fatalf("listed %v, want %v:\n%s", names, catalog.Names(), out.String())
	}
}
