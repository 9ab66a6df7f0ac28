package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// runCompare is `authlab compare`: results/COMPARISON.md and
// COMPARISON.json — latency from the latest paired run, the event columns
// from the latest run of every strategy that measured them.
func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("results", "results", "results directory holding paired/<run-id>/paired.json and <strategy>/<run-id>/report.json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, path, warnings, err := report.WriteComparison(*dir, time.Now())
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: skipped %s\n", w)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "written: %s (and %s)\n", path, report.ComparisonJSONFile)
	return nil
}
