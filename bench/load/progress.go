package load

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

// Progress prints what the run is doing: on a terminal one live line
// rewritten every 250 ms, otherwise a plain line every 5 s. Every line
// starts with its label in brackets (the strategy under test).
type Progress struct {
	w        io.Writer
	terminal bool
	label    string

	mu      sync.Mutex
	hasLine bool
}

// NewProgress returns a Progress writing to w (a terminal when terminal
// is set); nil w discards everything.
func NewProgress(w io.Writer, terminal bool, label string) *Progress {
	if w == nil {
		w = io.Discard
	}
	return &Progress{w: w, terminal: terminal, label: label}
}

// Note prints a message on its own line. A nil Progress prints nothing.
func (p *Progress) Note(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, "[%s] %s\n", p.label, fmt.Sprintf(format, args...))
}

func (p *Progress) clear() {
	if p.terminal && p.hasLine {
		fmt.Fprint(p.w, "\r\033[K")
		p.hasLine = false
	}
}

// Done clears the live line.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// Follow prints the progress of d's running phase until ctx ends.
func (p *Progress) Follow(ctx context.Context, phase string, dur time.Duration, d *Driver) {
	if p == nil {
		return
	}
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
			p.label, phase, time.Since(start).Seconds(), dur.Seconds(), st.Requests, 100*st.OKRate(), st.RecentP99Ms, st.Lost, st.Relogins)
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
