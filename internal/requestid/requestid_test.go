package requestid

import (
	"context"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"", false},
		{"abc-123_x.y~z:1", true},
		{strings.Repeat("a", MaxLen), true},
		{strings.Repeat("a", MaxLen+1), false},
		{"has space", false},
		{"line\nbreak", false},
		{"quote\"", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.id); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNewIsValidAndFresh(t *testing.T) {
	a, b := New(), New()
	if !Valid(a) || !Valid(b) {
		t.Fatalf("New() not valid: %q %q", a, b)
	}
	if a == b {
		t.Fatalf("two New() calls returned %q", a)
	}
}

func TestOrNew(t *testing.T) {
	if got := OrNew("keep-me"); got != "keep-me" {
		t.Errorf("OrNew kept %q, want keep-me", got)
	}
	if got := OrNew("bad id\r\n"); !Valid(got) || got == "bad id\r\n" {
		t.Errorf("OrNew(bad) = %q, want a fresh valid id", got)
	}
}

func TestContext(t *testing.T) {
	if got := From(context.Background()); got != "" {
		t.Errorf("From(empty ctx) = %q", got)
	}
	if got := From(With(context.Background(), "r1")); got != "r1" {
		t.Errorf("From(With(r1)) = %q", got)
	}
}
