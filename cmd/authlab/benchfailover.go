package main

import (
	"flag"
	"strings"

	"github.com/authlab/authlab/bench/scenario"
)

// registerFailoverFlags adds `authlab bench`'s failover flags to fs:
// --kill-mode, --lb-retry and --freeze-for, parsed into the returned
// configuration (validated with the rest of the run's).
func registerFailoverFlags(fs *flag.FlagSet) *scenario.FailoverConfig {
	c := &scenario.FailoverConfig{Modes: []string{scenario.DefaultKillMode}, Retry: []bool{false}}
	fs.Var((*killModesFlag)(&c.Modes), "kill-mode",
		"failover: how the gateway goes down, comma-separated or all, one load phase each: "+
			strings.Join(scenario.KillModes(), "|")+
			" (announced: the lb's admin kill, which takes it out of rotation first, so nothing reaches the dead instance by construction; "+
			"crash: SIGKILL from outside the lb, which learns of it only from failed requests and health checks; "+
			"freeze: SIGSTOP for --freeze-for, then SIGCONT; drain: the lb's drain)")
	fs.Var((*retryFlag)(&c.Retry), "lb-retry", "failover: the lb retries failed requests on another instance: off|on|both (both: every kill mode runs twice)")
	fs.DurationVar(&c.FreezeFor, "freeze-for", scenario.DefaultFreezeFor, "failover, kill mode freeze: how long the gateway stays stopped")
	return c
}

// killModesFlag is --kill-mode.
type killModesFlag []string

func (f *killModesFlag) String() string { return strings.Join(*f, ",") }

func (f *killModesFlag) Set(v string) error {
	*f = scenario.ParseKillModes(v)
	return nil
}

// retryFlag is --lb-retry.
type retryFlag []bool

func (f *retryFlag) String() string {
	switch {
	case len(*f) == 2:
		return "both"
	case len(*f) == 1 && (*f)[0]:
		return "on"
	}
	return "off"
}

func (f *retryFlag) Set(v string) error {
	r, err := scenario.ParseRetry(v)
	if err != nil {
		return err
	}
	*f = r
	return nil
}
