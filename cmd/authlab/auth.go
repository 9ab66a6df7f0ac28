package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authlab/authlab/internal/cliflag"
	"github.com/authlab/authlab/internal/httpserver"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/secret"
	"github.com/authlab/authlab/services/auth"
)

// runAuth is `authlab auth`: the user directory and password check.
func runAuth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8091", "address to listen on")
	seedUsers := fs.Int("seed-users", 1000, "number of seeded users user0001…userNNNN (role user)")
	seedPassword := fs.String("seed-password", "", "secret: password of every seeded user (random if empty, written to a 0600 file)")
	adminPassword := fs.String("admin-password", "", "secret: password of user admin (random if empty, written to a 0600 file)")
	cost := fs.Int("bcrypt-cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost (%d–%d)", bcrypt.MinCost, auth.MaxBcryptCost))
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	secretsDir := secretsDirFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := prepareSecretsDir(*secretsDir); err != nil {
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
	// and write them to a file only their owner can read, so the person
	// running this can log in (never printed: terminals get logged).
	var generated []secret.EnvVar
	if cfg.SeedPassword == "" && cfg.SeedUsers > 0 {
		cfg.SeedPassword = secret.Random()
		generated = append(generated, secret.EnvVar{Name: cliflag.EnvName("seed-password"), Value: cfg.SeedPassword,
			Comment: fmt.Sprintf("password of users %s…%s", identity.SeedUsername(1), identity.SeedUsername(cfg.SeedUsers))})
		logger.Warn("NO SEED PASSWORD GIVEN: generated a random one (see the secrets file on stdout); clients that were not told it cannot log in",
			"flag", "--seed-password", "fix", "set --seed-password or AUTHLAB_SEED_PASSWORD")
	}
	if cfg.AdminPassword == "" {
		cfg.AdminPassword = secret.Random()
		generated = append(generated, secret.EnvVar{Name: cliflag.EnvName("admin-password"), Value: cfg.AdminPassword,
			Comment: "password of user " + auth.AdminUser})
		logger.Warn("NO ADMIN PASSWORD GIVEN: generated a random one (see the secrets file on stdout)",
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
	remove, err := writeSecrets(stdout, *secretsDir, "auth", generated)
	if err != nil {
		return err
	}
	defer remove()
	return httpserver.Run(ctx, logger, *listen, auth.NewHandler(dir, logger))
}
