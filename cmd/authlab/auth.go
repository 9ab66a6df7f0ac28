package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/services/auth"
)

// runAuth is `authlab auth`: the user directory and password check.
func runAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8091", "address to listen on")
	seedUsers := fs.Int("seed-users", 1000, "number of seeded users user0001…userNNNN (role user)")
	seedPassword := fs.String("seed-password", "", "password of every seeded user (random and printed when empty)")
	adminPassword := fs.String("admin-password", "", "password of user admin (random and printed when empty)")
	cost := fs.Int("bcrypt-cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost (%d–%d)", bcrypt.MinCost, auth.MaxBcryptCost))
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := httpserver.NewLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	logger = logger.With("service", "auth")

	cfg := auth.Config{
		SeedUsers:     *seedUsers,
		SeedPassword:  *seedPassword,
		AdminPassword: *adminPassword,
		BcryptCost:    *cost,
	}
	// Passwords have no silent default: generate random ones, warn loudly
	// and print them so the person running this can log in.
	var generated []string
	if cfg.SeedPassword == "" && cfg.SeedUsers > 0 {
		cfg.SeedPassword = secret.Random()
		generated = append(generated, fmt.Sprintf("generated seed password (users %s…%s): %s",
			auth.SeedUsername(1), auth.SeedUsername(cfg.SeedUsers), cfg.SeedPassword))
		logger.Warn("NO SEED PASSWORD GIVEN: generated a random one and printed it to stdout; clients that were not told it cannot log in",
			"flag", "--seed-password", "fix", "set --seed-password or AUTHLAB_SEED_PASSWORD")
	}
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = secret.Random()
		generated = append(generated, fmt.Sprintf("generated admin password (user %s): %s", auth.AdminUser, cfg.AdminPassword))
		logger.Warn("NO ADMIN PASSWORD GIVEN: generated a random one and printed it to stdout",
			"flag", "--admin-password", "fix", "set --admin-password or AUTHLAB_ADMIN_PASSWORD")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	start := time.Now()
	dir, err := auth.NewDirectory(cfg)
	if err != nil {
		return err
	}
	logger.Info("user directory ready", "users", dir.Len(), "bcrypt_cost", *cost, "took", time.Since(start).Round(time.Millisecond))
	for _, line := range generated {
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return fmt.Errorf("print generated password: %w", err)
		}
	}
	return httpserver.Run(ctx, logger, *listen, auth.NewHandler(dir, logger))
}
