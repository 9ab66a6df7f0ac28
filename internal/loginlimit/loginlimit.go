// Package loginlimit throttles password guessing per account.
//
// Every login attempt for an account is counted before its password is
// checked (Attempt); a successful login clears the count (Reset). Once an
// account has MaxFailures attempts without a success, each further attempt
// locks it for a delay that starts at Base and doubles per attempt, up to
// Max; while locked, Attempt refuses at once and reports how long remains,
// without counting. A count is forgotten Window after its last attempt.
//
// Counting before the check, and setting the lock as the attempt that
// reaches the threshold starts, bounds what concurrency buys an attacker:
// requests sent in parallel cannot all slip through before the first
// failure is recorded.
//
// Accounts are keyed by the lower-cased username. Memory keeps the counts
// of one instance, bounded; Redis shares them between every instance using
// one Redis (keys are an HMAC fingerprint of the name, never the name).
package loginlimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultMaxFailures = 5
	DefaultBase        = time.Second
	DefaultMax         = 15 * time.Minute
	DefaultWindow      = time.Hour
	DefaultMaxAccounts = 100_000
)

// Config tunes a limiter. Zero fields take the defaults above.
type Config struct {
	// MaxFailures is how many attempts without a success an account gets
	// before it is locked (default 5).
	MaxFailures int
	// Base is the first lockout (default 1s); each further attempt doubles it.
	Base time.Duration
	// Max caps the lockout (default 15m).
	Max time.Duration
	// Window is how long a count survives after its account's last attempt
	// (default 1h). It must be at least Max, or a lock could outlive its count.
	Window time.Duration
	// MaxAccounts bounds the accounts Memory tracks (default 100000); when
	// full, the account idle longest is forgotten. Redis ignores it.
	MaxAccounts int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate reports a configuration error. Zero values are accepted.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("MaxFailures %d < 1", c.MaxFailures))
	}
	if c.Base < time.Millisecond {
		errs = append(errs, fmt.Errorf("Base %v below 1ms", c.Base))
	}
	if c.Max < c.Base {
		errs = append(errs, fmt.Errorf("Max %v below Base %v", c.Max, c.Base))
	}
	if c.Window < c.Max {
		errs = append(errs, fmt.Errorf("Window %v below Max %v", c.Window, c.Max))
	}
	if c.MaxAccounts < 1 {
		errs = append(errs, fmt.Errorf("MaxAccounts %d < 1", c.MaxAccounts))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("loginlimit: invalid config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Base == 0 {
		c.Base = DefaultBase
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxAccounts == 0 {
		c.MaxAccounts = DefaultMaxAccounts
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// delay is the lockout set by the n-th attempt without a success (n >=
// MaxFailures): Base doubled n-MaxFailures times, capped at Max.
func (c Config) delay(n int64) time.Duration {
	k := n - int64(c.MaxFailures)
	if k < 0 {
		return 0
	}
	d := c.Base
	for ; k > 0 && d < c.Max; k-- {
		d *= 2
	}
	return min(d, c.Max)
}

// Disabled never throttles (--login-max-failures 0).
type Disabled struct{}

// Attempt always lets the attempt proceed.
func (Disabled) Attempt(context.Context, string) (time.Duration, error) { return 0, nil }

// Reset does nothing.
func (Disabled) Reset(context.Context, string) error { return nil }
