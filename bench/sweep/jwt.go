package sweep

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/scenario"
)

// JWTLeeway is the clock skew the jwt strategy tolerates past a token's
// exp (strategies/jwtauth.Leeway; the harness may not import a strategy
// implementation). A logged-out token without the denylist keeps working
// until exp + JWTLeeway. It is a fixed allowance, not a share of the
// lifetime: the access-TTL sweep does not scale it (see RealLagS).
const JWTLeeway = 5 * time.Second

// JWTKinds are the jwt sweeps, in the order they run.
var JWTKinds = []string{KindDenylist, KindAlg, KindAccessTTL}

// Algorithms the alg sweep compares (the strategy's --jwt-alg values).
var jwtAlgs = []string{"HS256", "EdDSA"}

// ParseKinds reads --sweep: "all" or a comma-separated list of
// denylist, alg, access-ttl (each once), returned in JWTKinds order.
func ParseKinds(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("--sweep is empty: want all or a list of " + strings.Join(JWTKinds, ", "))
	}
	if s == "all" {
		return slices.Clone(JWTKinds), nil
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		k := strings.TrimSpace(f)
		if !slices.Contains(JWTKinds, k) {
			return nil, fmt.Errorf("--sweep: %q is not a jwt sweep (want all or a list of %s)", k, strings.Join(JWTKinds, ", "))
		}
		if seen[k] {
			return nil, fmt.Errorf("--sweep: %q given twice", k)
		}
		seen[k] = true
	}
	var out []string
	for _, k := range JWTKinds {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// ParseDurations reads a comma-separated list of positive durations
// (flag names the flag in the error).
func ParseDurations(flag, s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive duration", flag, strings.TrimSpace(f))
		}
		out = append(out, d)
	}
	return out, nil
}

// JWTConfig configures the jwt sweeps.
type JWTConfig struct {
	// Kinds are the sweeps to run (ParseKinds).
	Kinds []string
	// Duration is the sweep's steady phase; the denylist points need
	// their tokens to outlive it (see DenylistAccessTTL).
	Duration time.Duration
	// DenylistAccessTTL is the access-token lifetime of both denylist
	// points: without the denylist a logged-out token works until it
	// expires, so the run must be able to wait it out. It must exceed
	// Duration, so that no token expires during the steady phase (the
	// load driver would count a session lost and log in again).
	DenylistAccessTTL time.Duration
	// Repeat is the number of runs per algorithm (alg), interleaved.
	Repeat int
	// AccessTTLs are the lifetimes the access-ttl sweep stands for (1, 5,
	// 15 min); each runs at AccessTTL / TimeScale, a whole number of
	// seconds (a token's exp has one-second resolution).
	AccessTTLs []time.Duration
	TimeScale  float64
	// RefreshAhead is how long before expiry, in real time, the users of
	// the access-ttl sweep refresh their token (run at RefreshAhead /
	// TimeScale); shorter than every AccessTTLs.
	RefreshAhead time.Duration
}

// Validate checks c.
func (c JWTConfig) Validate() error {
	if len(c.Kinds) == 0 {
		return errors.New("jwt sweep: no sweep kind")
	}
	var errs []error
	if slices.Contains(c.Kinds, KindDenylist) && c.DenylistAccessTTL <= c.Duration {
		errs = append(errs, fmt.Errorf("--denylist-access-ttl %s must exceed --duration %s: a token expiring during the steady phase is a session lost, not a revocation", c.DenylistAccessTTL, c.Duration))
	}
	if slices.Contains(c.Kinds, KindDenylist) && c.DenylistAccessTTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--denylist-access-ttl %s: want whole seconds (a token's exp has one-second resolution)", c.DenylistAccessTTL))
	}
	if slices.Contains(c.Kinds, KindAlg) && (c.Repeat < 1 || c.Repeat > 20) {
		errs = append(errs, fmt.Errorf("--repeat %d: want 1..20", c.Repeat))
	}
	if slices.Contains(c.Kinds, KindAccessTTL) {
		if !(c.TimeScale >= 1) || math.IsInf(c.TimeScale, 0) {
			errs = append(errs, fmt.Errorf("--time-scale %v: want a number ≥ 1 (60: a second of the run stands for a minute)", c.TimeScale))
		} else {
			for _, ttl := range c.AccessTTLs {
				if _, err := scaledTTL(ttl, c.TimeScale); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(c.AccessTTLs) == 0 {
			errs = append(errs, errors.New("--access-ttls: no lifetime"))
		} else if c.RefreshAhead <= 0 || c.RefreshAhead >= slices.Min(c.AccessTTLs) {
			errs = append(errs, fmt.Errorf("--refresh-ahead %s: want more than 0 and less than the shortest --access-ttls %s", c.RefreshAhead, slices.Min(c.AccessTTLs)))
		}
	}
	return errors.Join(errs...)
}

// scaledTTL is ttl on a clock scale times as fast: a whole number of
// seconds, at least one.
func scaledTTL(ttl time.Duration, scale float64) (time.Duration, error) {
	run := time.Duration(math.Round(float64(ttl) / scale))
	if run < time.Second || run%time.Second != 0 || math.Abs(float64(run)*scale-float64(ttl)) > float64(time.Millisecond) {
		return 0, fmt.Errorf("--access-ttls %s at --time-scale %v runs as %s: want a whole number of seconds, at least 1 (a token's exp has one-second resolution)", ttl, scale, time.Duration(float64(ttl)/scale))
	}
	return run, nil
}

// JWT returns the points of the jwt sweeps c names, in JWTKinds order:
//
//   - denylist: --jwt-denylist off and on, both at DenylistAccessTTL; steady,
//     then revocation with logouts spread over the token's lifetime (so the
//     lag without the denylist is its remaining lifetime, + JWTLeeway).
//   - alg: HS256 and EdDSA, Repeat runs each interleaved (HS256, EdDSA,
//     HS256, …, so drift hits both alike); steady and the micro-benchmark.
//   - access-ttl: each AccessTTLs / TimeScale; steady for at least two
//     lifetimes with users refreshing RefreshAhead / TimeScale before
//     expiry, then revocation spread over the lifetime.
func JWT(c JWTConfig) ([]Point, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var ps []Point
	for _, k := range c.Kinds {
		switch k {
		case KindDenylist:
			ttl := c.DenylistAccessTTL
			for _, on := range []bool{false, true} {
				p := Point{Label: "denylist off", Kind: KindDenylist,
					GatewayArgs:       []string{"--access-ttl", ttl.String()},
					RevocationSpread:  ttl,
					RevocationTimeout: ttl + JWTLeeway + 5*time.Second,
					AccessTTLS:        ttl.Seconds()}
				if on {
					p.Label = "denylist on"
					p.GatewayArgs = append(p.GatewayArgs, "--jwt-denylist")
				}
				ps = append(ps, p)
			}
		case KindAlg:
			for r := 1; r <= c.Repeat; r++ {
				for _, alg := range jwtAlgs {
					ps = append(ps, Point{Label: alg, Kind: KindAlg, Round: r,
						GatewayArgs: []string{"--jwt-alg", alg},
						Scenarios:   []string{scenario.SteadyName}, Micro: true})
				}
			}
		case KindAccessTTL:
			for _, real := range c.AccessTTLs {
				ttl, _ := scaledTTL(real, c.TimeScale)
				ps = append(ps, Point{Label: "ttl " + fmtDuration(real), Kind: KindAccessTTL,
					GatewayArgs:       []string{"--access-ttl", ttl.String()},
					RevocationSpread:  ttl,
					RevocationTimeout: ttl + JWTLeeway + 5*time.Second,
					Duration:          max(c.Duration, 2*ttl+2*time.Second),
					AccessTTLS:        ttl.Seconds(),
					TimeScale:         c.TimeScale,
					RefreshAheadS:     c.RefreshAhead.Seconds() / c.TimeScale})
			}
		}
	}
	return ps, nil
}

// RealLagS scales a revocation lag measured on a clock scale times as
// fast back to real seconds: the token's remaining lifetime (the lag less
// JWTLeeway, which is a fixed allowance, not scaled) times scale, plus
// the leeway. A lag within the leeway (the token had expired at the
// logout) is the leeway's part only.
func RealLagS(lagMs, scale float64) float64 {
	lw := JWTLeeway.Seconds()
	return math.Max(0, lagMs/1000-lw)*scale + lw
}

// fmtDuration is d without trailing zero units: 1m, 5m, 1h30m, 20s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
