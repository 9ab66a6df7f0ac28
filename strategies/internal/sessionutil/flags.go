package sessionutil

import (
	"flag"
	"fmt"
	"time"
)

// Names of the flags every cookie-session strategy (sticky, redis-session)
// shares.
const (
	FlagTTL     = "session-ttl"
	FlagIdleTTL = "session-idle-ttl"
)

// Defaults of the shared session flags (the strategies' own Config
// defaults, for a zero value, are longer: see each Config).
const (
	DefaultFlagTTL     = time.Hour
	DefaultFlagIdleTTL = 30 * time.Minute
)

// Flags are the parsed values of the shared session flags.
type Flags struct {
	// TTL is a session's absolute lifetime (0: the strategy's default).
	TTL time.Duration
	// IdleTTL, when positive, also ends a session unused that long.
	IdleTTL time.Duration
}

// RegisterFlags defines the shared session flags on fs, unless another
// cookie-session strategy already did, and returns a function reading
// their parsed values. Every cookie-session strategy calls it from its
// Register: the flags are defined in this one place, with one default and
// one meaning, however many strategies use them. It panics, as fs.Var
// would on a redefinition, when a flag of the same name but another type
// is already defined.
func RegisterFlags(fs *flag.FlagSet) func() Flags {
	if fs.Lookup(FlagTTL) == nil {
		fs.Duration(FlagTTL, DefaultFlagTTL, "absolute lifetime of a session, however often it is used (shared by the cookie-session strategies)")
		fs.Duration(FlagIdleTTL, DefaultFlagIdleTTL, "a session unused this long expires (sliding; 0 = only --"+FlagTTL+"; shared by the cookie-session strategies)")
	}
	// Fail at registration, not at the first build, on a foreign definition.
	duration(fs, FlagTTL)
	duration(fs, FlagIdleTTL)
	return func() Flags { return Flags{TTL: duration(fs, FlagTTL), IdleTTL: duration(fs, FlagIdleTTL)} }
}

func duration(fs *flag.FlagSet, name string) time.Duration {
	f := fs.Lookup(name)
	if f == nil {
		panic(fmt.Sprintf("sessionutil: flag --%s is not defined", name))
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		panic(fmt.Sprintf("sessionutil: flag --%s is already defined, not as a duration", name))
	}
	d, ok := g.Get().(time.Duration)
	if !ok {
		panic(fmt.Sprintf("sessionutil: flag --%s is already defined, not as a duration", name))
	}
	return d
}
