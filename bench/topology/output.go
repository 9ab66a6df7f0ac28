package topology

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// prefixWriter writes each line of a child's output to w prefixed with its
// name.
func prefixWriter(w io.Writer, name string) io.Writer {
	if w == io.Discard {
		return io.Discard
	}
	return &linePrefixer{w: w, prefix: "[" + name + "] "}
}

type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf[:i]); err != nil {
			return len(p), err
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// tailSize is how much of a child's last output a start-up error quotes.
const tailSize = 2000

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = slices.Delete(t.buf, 0, over)
	}
	return len(p), nil
}

// annotate adds the child's last output to err.
func (t *tailBuffer) annotate(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if out := strings.TrimSpace(string(t.buf)); out != "" {
		return fmt.Errorf("%w; its last output:\n%s", err, out)
	}
	return err
}
