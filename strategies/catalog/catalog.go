// Package catalog is the one list of authlab's strategies and the one
// place that imports every implementation. Each strategy describes itself
// in its own package (a strategies.Descriptor: name, summary, needs,
// traits, flags); everything else — the gateway's flags and help, the
// `authlab strategies` listing, the Makefile's bench-all loop, the
// harness's strategy list, report order and topology — derives from here,
// so no other file spells a strategy's name.
//
// Adding a strategy is one package with a Descriptor function, and one
// line in All.
package catalog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/jwtauth"
	"github.com/authlab/authlab/strategies/none"
	"github.com/authlab/authlab/strategies/opaque"
	"github.com/authlab/authlab/strategies/redissession"
	"github.com/authlab/authlab/strategies/sticky"
)

// All returns every strategy's descriptor in display order (the order of
// listings, reports and benchmark loops), the control group first. The
// slice is new on every call.
func All() []strategies.Descriptor {
	return []strategies.Descriptor{
		none.Descriptor(),
		sticky.Descriptor(),
		redissession.Descriptor(),
		jwtauth.Descriptor(),
		opaque.Descriptor(),
	}
}

// Default is the name of the strategy commands use when none is named
// (--strategy's default).
const Default = jwtauth.Name

// Names returns every strategy's name, in display order.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, d := range all {
		names[i] = d.Name
	}
	return names
}

// ErrUnknown is wrapped by Lookup's and Build's error for a name that is
// not in the catalogue.
var ErrUnknown = errors.New("unknown strategy")

// Lookup returns the descriptor of strategy name, or an error wrapping
// ErrUnknown that lists the known names.
func Lookup(name string) (strategies.Descriptor, error) {
	for _, d := range All() {
		if d.Name == name {
			return d, nil
		}
	}
	return strategies.Descriptor{}, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Control returns the control group's descriptor: the strategy that
// authenticates nobody, against which the others are measured.
func Control() strategies.Descriptor {
	for _, d := range All() {
		if d.Control {
			return d
		}
	}
	panic("catalog: no control group") // TestCatalogShape guards this
}

// IsControl reports whether name is the control group.
func IsControl(name string) bool { return Control().Name == name }

// NeedsRedis reports whether strategy name needs a Redis client (false for
// an unknown name).
func NeedsRedis(name string) bool {
	d, err := Lookup(name)
	return err == nil && d.Needs.Redis
}

// NeedsStickyLB reports whether strategy name needs the load balancer to
// pin clients to one instance (false for an unknown name).
func NeedsStickyLB(name string) bool {
	d, err := Lookup(name)
	return err == nil && d.Needs.StickyLB
}

// Builders are every strategy's flags, registered into one FlagSet by
// Register. Once the FlagSet is parsed, Build builds any of them.
type Builders struct {
	byName map[string]strategies.Builder
}

// Register defines every strategy's flags on fs (a flag several strategies
// share, once) and returns their builders. The flags keep the names,
// defaults and meanings the gateway has always had.
func Register(fs *flag.FlagSet) *Builders {
	b := &Builders{byName: map[string]strategies.Builder{}}
	for _, d := range All() {
		b.byName[d.Name] = d.Register(fs)
	}
	return b
}

// Check reports an unknown name, or a flag of strategy name whose value
// cannot work on its own: call it before connecting what the strategy
// needs (Redis), so a mistyped flag is reported first.
func (b *Builders) Check(name string) error {
	if _, err := Lookup(name); err != nil {
		return err
	}
	if err := b.byName[name].Check(); err != nil {
		return fmt.Errorf("strategy %s: %w", name, err)
	}
	return nil
}

// Build builds strategy name from the parsed flags and deps. It refuses a
// strategy that needs Redis when deps.Redis is nil. The caller closes the
// strategy when it implements strategies.Closer.
func (b *Builders) Build(ctx context.Context, name string, deps strategies.Deps) (strategies.Strategy, error) {
	if err := b.Check(name); err != nil {
		return nil, err
	}
	if d, _ := Lookup(name); d.Needs.Redis && deps.Redis == nil {
		return nil, fmt.Errorf("strategy %s needs Redis, and has no client", name)
	}
	s, err := b.byName[name].Build(ctx, deps)
	if err != nil {
		return nil, fmt.Errorf("strategy %s: %w", name, err)
	}
	return s, nil
}
