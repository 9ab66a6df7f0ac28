package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/authlab/authlab/strategies/catalog"
)

// runStrategies is `authlab strategies`: the catalogue, in display order.
// With --names, only the names, one per line (the Makefile's bench-all
// loops over them).
func runStrategies(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("strategies", flag.ContinueOnError)
	fs.SetOutput(stderr)
	namesOnly := fs.Bool("names", false, "print only the names, one per line, in display order")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *namesOnly {
		for _, n := range catalog.Names() {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, d := range catalog.All() {
		fmt.Fprintf(tw, "%s\t%s\n", d.Name, d.Summary)
		fmt.Fprintf(tw, "\tneeds %s; %s\n", d.Needs, d.Traits)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "\n'authlab gateway -h' lists each strategy's flags.")
	return err
}
