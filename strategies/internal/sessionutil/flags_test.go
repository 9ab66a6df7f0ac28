package sessionutil

import (
	"flag"
	"io"
	"testing"
	"time"
)

// TestRegisterFlagsOnce: two cookie-session strategies registering on one
// FlagSet share one pair of flags (no "flag redefined" panic), and both
// read the parsed values.
func TestRegisterFlagsOnce(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	first, second := RegisterFlags(fs), RegisterFlags(fs)
	if got := first(); got != (Flags{TTL: DefaultFlagTTL, IdleTTL: DefaultFlagIdleTTL}) {
		t.Fatalf("defaults = %+v", got)
	}
	if err := fs.Parse([]string{"--session-ttl", "2h", "--session-idle-ttl", "0"}); err != nil {
		t.Fatal(err)
	}
	want := Flags{TTL: 2 * time.Hour}
	if a, b := first(), second(); a != want || b != want {
		t.Fatalf("first %+v, second %+v, want both %+v", a, b, want)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n != 2 {
		t.Fatalf("%d flags defined, want 2", n)
	}
}

func TestRegisterFlagsForeignDefinitionPanics(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String(FlagTTL, "", "not a duration")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a --session-ttl of another type")
		}
	}()
	RegisterFlags(fs)
}
