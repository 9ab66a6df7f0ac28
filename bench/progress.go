package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress prints what the run is doing: on a terminal one live line
// rewritten every 250 ms, otherwise a plain line every 5 s.
type progress struct {
	w        io.Writer
	terminal bool
	strategy string

	mu      sync.Mutex
	hasLine bool
}

func newProgress(w io.Writer, terminal bool, strategy string) *progress {
	return &progress{w: w, terminal: terminal, strategy: strategy}
}

// note prints a message on its own line.
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "[%s] %s\n", p.strategy, fmt.Sprintf(format, args...))
}

func (p *progress) clear() {
	if p.terminal && p.hasLine {
		fmt.Fprint(p.w, "\r\033[K")
		p.hasLine = false
	}
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// follow prints the progress of a phase until ctx ends.
func (p *progress) follow(ctx context.Context, phase string, dur time.Duration, d *Driver) {
	every := 5 * time.Second
	if p.terminal {
		every = 250 * time.Millisecond
	}
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := d.Live()
		line := fmt.Sprintf("[%s] %-12s %5.1fs/%-4.0fs  sent %-7d ok %6.2f%%  p99(last 1s) %7.2fms  sessions lost %d  re-logins %d",
			p.strategy, phase, time.Since(start).Seconds(), dur.Seconds(), st.Requests, 100*st.OKRate(), st.RecentP99Ms, st.Lost, st.Relogins)
		p.mu.Lock()
		if p.terminal {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.hasLine = true
		} else {
			fmt.Fprintln(p.w, line)
		}
		p.mu.Unlock()
	}
}
