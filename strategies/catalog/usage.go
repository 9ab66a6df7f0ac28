package catalog

import (
	"flag"
	"fmt"
	"io"
)

// PrintDefaults writes the flags defined on fs as flag.PrintDefaults does,
// grouped: first the flags no strategy defines (the host's own), then for
// each strategy, in display order, a heading (name, summary, needs,
// traits) and the flags it reads. A shared flag is listed under every
// strategy that reads it.
func PrintDefaults(w io.Writer, fs *flag.FlagSet) {
	owned := map[string]bool{}
	var groups []*flag.FlagSet
	for _, d := range All() {
		g := flag.NewFlagSet(d.Name, flag.ContinueOnError)
		d.Register(g)
		g.VisitAll(func(f *flag.Flag) { owned[f.Name] = true })
		groups = append(groups, g)
	}
	host := flag.NewFlagSet("", flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if !owned[f.Name] {
			host.Var(f.Value, f.Name, f.Usage)
			host.Lookup(f.Name).DefValue = f.DefValue // not the parsed value
		}
	})
	host.SetOutput(w)
	host.PrintDefaults()
	for i, d := range All() {
		fmt.Fprintf(w, "\nstrategy %s: %s\n  needs %s; %s\n", d.Name, d.Summary, d.Needs, d.Traits)
		n := 0
		groups[i].VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			fmt.Fprintln(w, "  (no flags)")
			continue
		}
		groups[i].SetOutput(w)
		groups[i].PrintDefaults()
	}
}
