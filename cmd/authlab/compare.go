package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/cliflag"
)

// runCompare is `authlab compare`: results/COMPARISON.md from the latest
// run of every strategy.
func runCompare(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("results", "results", "results directory holding <strategy>/<run-id>/report.json")
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
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
