// Package cliflag binds command-line flags to environment variables: every
// flag --some-name can also be set as AUTHLAB_SOME_NAME. A flag given on the
// command line wins over the environment.
package cliflag

import (
	"flag"
	"fmt"
	"strings"
)

// EnvPrefix is prepended to every flag's environment variable name.
const EnvPrefix = "AUTHLAB_"

// EnvName returns the environment variable for flag name:
// "jwt-secret" → "AUTHLAB_JWT_SECRET".
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then sets every flag that was not given on the
// command line from its environment variable, looked up with lookup
// (os.LookupEnv in production). A malformed environment value is an error
// naming the variable.
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("environment %s=%q: %w", env, v, e)
		}
	})
	return err
}
