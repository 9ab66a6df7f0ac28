package none

import (
	"context"
	"testing"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/strategytest"
)

func TestConformance(t *testing.T) {
	strategytest.Run(t, func(*testing.T) strategies.Strategy { return New() })
}

func BenchmarkAuthenticate(b *testing.B) {
	s := New()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Authenticate(ctx, ""); err != nil {
			b.Fatal(err)
		}
	}
}
