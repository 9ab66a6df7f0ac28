package main

import (
	"context"
	"flag"
	"io"

	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/services/backend"
)

// runBackend is `authlab backend`: the demo API behind the gateway.
func runBackend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8092", "address to listen on")
	assertionKey := fs.String("assertion-key", "", "key verifying the gateway's identity assertions (at least 32 bytes; the gateway must use the same)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := httpserver.NewLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("service", "backend")
	key, _, err := secret.Resolve(logger, "assertion-key", *assertionKey, 32)
	if err != nil {
		return err
	}
	h, err := backend.New(backend.Config{AssertionKey: []byte(key)}, logger)
	if err != nil {
		return err
	}
	return httpserver.Run(ctx, logger, *listen, h)
}
