package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/authlab/authlab/internal/secret"
)

// secretsDirFlag defines --secrets-dir: where a command writes the secrets
// it generated, as a 0600 env file, instead of printing them.
func secretsDirFlag(fs *flag.FlagSet) *string {
	return fs.String("secrets-dir", os.Getenv("XDG_RUNTIME_DIR"),
		"directory of the 0600 env file holding generated secrets (default $XDG_RUNTIME_DIR, else the system temporary directory)")
}

// prepareSecretsDir makes sure dir (when set) exists, creating it with mode
// 0700, so that a bad --secrets-dir fails before anything is started.
func prepareSecretsDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--secrets-dir: %w", err)
	}
	return nil
}

// writeSecrets writes generated secrets to a 0600 env file in dir and tells
// w where it is and which variables it holds — never their values. The
// returned function removes the file (the secrets die with the process).
func writeSecrets(w io.Writer, dir, who string, vars []secret.EnvVar) (func(), error) {
	if len(vars) == 0 {
		return func() {}, nil
	}
	path, err := secret.WriteEnvFile(dir, "authlab-"+who+"-*.env", vars)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(vars))
	for i, v := range vars {
		names[i] = v.Name
	}
	if _, err := fmt.Fprintf(w, "%s: generated secrets %s written to %s (mode 0600, removed at exit); use them with: . %s\n",
		who, strings.Join(names, ", "), path, path); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("print secrets file: %w", err)
	}
	return func() { _ = os.Remove(path) }, nil
}
