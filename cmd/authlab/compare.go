package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/authlab/authlab/bench/report"
)

// runCompare is `authlab compare`: results/COMPARISON.md from the latest
// run of every strategy.
func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("results", "results", "results directory holding <strategy>/<run-id>/report.json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	path, warnings, err := report.WriteComparison(*dir)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: skipped %s\n", w)
	}
	if err != nil {
		return err
	}
	reports, _, err := report.LatestReports(*dir)
	if err != nil {
		return err
	}
	if err := report.RenderComparison(stdout, reports, report.Compare(reports)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwritten: %s\n", path)
	return nil
}
