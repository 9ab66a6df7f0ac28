package lb

import (
	"sync"
	"time"
)

// Event types.
const (
	EventKill    = "kill"    // an admin kill began (Mode says how)
	EventRevive  = "revive"  // an admin revive (a fresh process, or SIGCONT)
	EventDown    = "down"    // the instance left rotation (Reason says why)
	EventUp      = "up"      // the instance entered rotation
	EventExit    = "exit"    // a child process exited without being asked to
	EventDrained = "drained" // a drain finished and the instance was stopped
	EventRetry   = "retry"   // retries were switched on or off (Reason says which)
)

// maxEvents bounds the event log; the oldest events are dropped first.
const maxEvents = 100_000

// Event is one entry of the event log.
type Event struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	Instance string `json:"instance"`
	Mode     string `json:"mode,omitempty"`
	Reason   string `json:"reason,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// MonoNS is nanoseconds since the load balancer started, on the
	// monotonic clock.
	MonoNS int64 `json:"mono_ns"`
	// Wall is the wall-clock time, RFC 3339 with nanoseconds.
	Wall time.Time `json:"wall"`
}

type eventLog struct {
	start time.Time // carries a monotonic reading
	now   func() time.Time

	mu     sync.Mutex
	seq    uint64
	events []Event
}

func (l *eventLog) add(e Event) Event {
	mono := time.Since(l.start).Nanoseconds()
	wall := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.Seq, e.MonoNS, e.Wall = l.seq, mono, wall
	if len(l.events) >= maxEvents {
		l.events = append(l.events[:0], l.events[len(l.events)/10:]...)
	}
	l.events = append(l.events, e)
	return e
}

// since returns a copy of the events with Seq > seq.
func (l *eventLog) since(seq uint64) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(l.events))
	for _, e := range l.events {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}
