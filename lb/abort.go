package lb

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

// errInstanceDown is the cause given to the requests cut short when their
// instance was marked down (Config.AbortOnDown).
var errInstanceDown = errors.New("instance marked down while the request was in flight")

// abortSet holds the cancel functions of the requests in flight to one
// instance, for Config.AbortOnDown.
type abortSet struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]context.CancelCauseFunc
}

// track gives r a context that abortAll cancels, and returns the request
// to send and the function that forgets it once its try is over.
func (s *abortSet) track(r *http.Request) (*http.Request, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	s.mu.Lock()
	if s.m == nil {
		s.m = map[uint64]context.CancelCauseFunc{}
	}
	id := s.next
	s.next++
	s.m[id] = cancel
	s.mu.Unlock()
	return r.WithContext(ctx), func() {
		s.mu.Lock()
		delete(s.m, id)
		s.mu.Unlock()
		cancel(nil)
	}
}

// abortAll cancels every request in flight; it returns how many.
func (s *abortSet) abortAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cancel := range s.m {
		cancel(errInstanceDown)
	}
	return len(s.m)
}
