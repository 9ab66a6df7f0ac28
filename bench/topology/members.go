package topology

import "github.com/authlab/authlab/internal/proc"

// Members returns the group's running children, in start order (their
// names and process ids: what a harness samples for CPU).
func (g *Group) Members() []*proc.Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*proc.Process, 0, len(g.members))
	for _, p := range g.members {
		if !p.Exited() {
			out = append(out, p)
		}
	}
	return out
}
