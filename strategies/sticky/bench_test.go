package sticky

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// fill puts n live sessions of n distinct users into s's store and returns
// their ids.
func fill(b *testing.B, s *Strategy, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := sessionutil.NewID()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.store.insert(id, identity.Principal{User: "u" + strconv.Itoa(i), Roles: []string{"user"}}); err != nil {
			b.Fatalf("fill %d: %v", i, err)
		}
		ids[i] = id
	}
	return ids
}

const million = 1 << 20

// BenchmarkAuthenticate1M: Authenticate of random sessions among 1M.
func BenchmarkAuthenticate1M(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour, MaxSessions: 2 * million})
	ids := fill(b, s, million)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Authenticate(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i += 7919 // a prime stride: no cache-friendly sequential walk
	}
}

// BenchmarkLogin1M: one user logging in again and again while 1M other
// sessions are held.
func BenchmarkLogin1M(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour, MaxSessions: 2 * million})
	fill(b, s, million)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Login(ctx, alice); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoginFull1M: a login refused because 1M live sessions fill the
// store (the cost a flood of logins imposes on a full store).
func BenchmarkLoginFull1M(b *testing.B) {
	s := newStrategy(b, Config{SweepInterval: time.Hour, MaxSessions: million})
	fill(b, s, million)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Login(ctx, alice); !errors.Is(err, ErrFull) {
			b.Fatalf("err = %v, want ErrFull", err)
		}
	}
}
