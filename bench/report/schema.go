// Package report holds the benchmark report schema (report.json), its
// rendering to Markdown with PNG charts (report.md), and the side-by-side
// comparison of the latest run of every strategy (COMPARISON.md).
//
// The schema is versioned: SchemaVersion changes whenever a field changes
// meaning or disappears; adding a field does not change it. Durations are
// plain numbers whose unit is in the field name (_ms, _s).
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// SchemaVersion is the version of the report.json layout written by this
// package. Readers refuse a report whose version they do not know.
const SchemaVersion = 1

// Report is one run of `authlab bench`: one strategy, one topology, one or
// more scenarios.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	RunID         string    `json:"run_id"`
	Strategy      string    `json:"strategy"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`

	Settings    Settings    `json:"settings"`
	Environment Environment `json:"environment"`

	// Login is the latency of the initial login of every user.
	Login Login `json:"login"`
	// Memory is the cost of holding the users' sessions, measured right
	// after the initial login.
	Memory Memory `json:"memory"`

	Scenarios []Scenario `json:"scenarios"`

	// Floor is the measurement floor: the same load against a bare echo
	// server on loopback, so overheads are read above it (nil when not run).
	Floor *Floor `json:"floor,omitempty"`
	// Micro is the Go micro-benchmark of the strategy's Authenticate
	// (nil when not run).
	Micro *Micro `json:"micro,omitempty"`
}

// Floor is the latency the harness measures against a bare echo server at
// the same rate: what any strategy's latency sits on top of.
type Floor struct {
	Rate    float64     `json:"rate"`
	Latency Percentiles `json:"latency"`
	Load    *LoadHealth `json:"load,omitempty"`
}

// Micro is a testing.Benchmark of one strategy's Authenticate.
type Micro struct {
	NsPerOp     float64 `json:"ns_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	N           int     `json:"n"`
}

// LoadHealth says whether the load generator kept up: latency is measured
// from each request's intended send time, so a generator that fell behind
// shows as send lag rather than hiding it (no coordinated omission).
type LoadHealth struct {
	RequestedRate float64 `json:"requested_rate"`
	AchievedRate  float64 `json:"achieved_rate"`
	// SendLagP99Ms is the p99 of (actual send − intended send).
	SendLagP99Ms float64 `json:"send_lag_p99_ms"`
	// GeneratorCPUPercent is the harness process's CPU over the phase
	// (100 = one core busy).
	GeneratorCPUPercent float64 `json:"generator_cpu_percent"`
	// Saturated is true when the generator did not keep up; its latency
	// is then the generator's, not the system's. Reason says why.
	Saturated bool   `json:"saturated"`
	Reason    string `json:"reason,omitempty"`
}

// Cost is the marginal CPU of a request: (CPU under load − idle CPU over
// an equal window) / requests, at two rates, so fixed costs are not
// charged to requests.
type Cost struct {
	IdleCPUPercent float64    `json:"idle_cpu_percent"`
	Points         []CostStep `json:"points"`
	// MarginalUsPerRequest is the slope between the two rates (µs of
	// gateway CPU per extra request); nil when it could not be computed.
	MarginalUsPerRequest *float64 `json:"marginal_us_per_request"`
}

// CostStep is the gateways' CPU at one rate, net of idle.
type CostStep struct {
	Rate            float64 `json:"rate"`
	Requests        int     `json:"requests"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	IdleCPUSeconds  float64 `json:"idle_cpu_seconds"`
	NetUsPerRequest float64 `json:"net_us_per_request"`
	// WindowS is the length of the measured window (the load phase until
	// its last answer); IdleCPUSeconds is the idle rate over that long.
	WindowS float64 `json:"window_s,omitempty"`
	// Load says whether the generator kept up at this rate.
	Load *LoadHealth `json:"load,omitempty"`
}

// Settings are the knobs the run was started with.
type Settings struct {
	Strategy      string   `json:"strategy"`
	Policy        string   `json:"policy"`
	Instances     int      `json:"instances"`
	Users         int      `json:"users"`
	Rate          float64  `json:"rate"`
	DurationS     float64  `json:"duration_s"`
	Scenarios     []string `json:"scenarios"`
	BcryptCost    int      `json:"bcrypt_cost"`
	Path          string   `json:"path"`
	CapacityP99Ms float64  `json:"capacity_p99_bound_ms"`
	// Batch groups the runs of one `make bench-all` (its event rounds):
	// compare summarises the runs of a strategy's latest batch.
	Batch string `json:"batch,omitempty"`
	// Target is the deployment measured when the harness did not start it
	// (bench --target); empty for a topology on loopback.
	Target string `json:"target,omitempty"`
	// Network is the latency added to the lb↔gateway and gateway↔Redis
	// links; nil when none was.
	Network *Network `json:"network,omitempty"`
	// Flags is every flag of the bench command with its effective value.
	Flags map[string]string `json:"flags"`
}

// Environment describes where the run happened.
type Environment struct {
	OS           string `json:"os"`
	Arch         string `json:"arch"`
	Kernel       string `json:"kernel"`
	CPUModel     string `json:"cpu_model"`
	CPUs         int    `json:"cpus"`
	GoVersion    string `json:"go_version"`
	RedisKind    string `json:"redis_kind"`
	RedisVersion string `json:"redis_version"`
	GitCommit    string `json:"git_commit"`
	GitDirty     bool   `json:"git_dirty"`
}

// Login summarises the initial logins.
type Login struct {
	Users    int         `json:"users"`
	Failures int         `json:"failures"`
	Latency  Percentiles `json:"latency"`
}

// Memory is the measured cost of the logged-in users' sessions.
type Memory struct {
	// GatewayRSSDeltaBytes is the growth of the gateways' summed resident
	// set across the initial login.
	GatewayRSSDeltaBytes int64 `json:"gateway_rss_delta_bytes"`
	// RedisUsedDeltaBytes is the growth of Redis used_memory across the
	// initial login (0 when the strategy keeps nothing in Redis).
	RedisUsedDeltaBytes int64 `json:"redis_used_delta_bytes"`
	// PerSessionBytes is the Redis growth per logged-in user: exact, as
	// Redis counts its own bytes (0 when the strategy keeps nothing there).
	PerSessionBytes float64 `json:"per_session_bytes"`
	// GatewayPerLoginBytes is the gateways' RSS growth per logged-in user.
	// Noisy: it includes the Go runtime warming up (compare it with the
	// none strategy's, which keeps no session at all).
	GatewayPerLoginBytes float64 `json:"gateway_rss_per_login_bytes"`
	// GatewayHeapPerSessionBytes is the growth of the gateways' live heap
	// after a forced GC, per logged-in user (sessions held in process,
	// sticky); nil when not measured.
	GatewayHeapPerSessionBytes *float64 `json:"gateway_heap_per_session_bytes,omitempty"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Errors counts failed requests by class. A request is in exactly one class
// (or none when it succeeded).
type Errors struct {
	// Transport: no HTTP response (connection refused/reset, timeout).
	Transport int `json:"transport"`
	// SessionLost: 401 for a user that had been logged in.
	SessionLost int `json:"session_lost_401"`
	// Unauthorized: 401 for a user that had never been logged in.
	Unauthorized int `json:"unauthorized_401"`
	// StoreDown: 503, the gateway's credential store is unreachable.
	StoreDown int `json:"store_down_503"`
	// Server: any other 5xx (502 from the lb when an instance is gone).
	Server int `json:"server_5xx"`
	// Other: any other non-2xx status.
	Other int `json:"other"`
}

// Total is the number of failed requests.
func (e Errors) Total() int {
	return e.Transport + e.SessionLost + e.Unauthorized + e.StoreDown + e.Server + e.Other
}

// Second is one second of a scenario's timeline, by intended send time.
type Second struct {
	T           int     `json:"t"`
	Requests    int     `json:"requests"`
	OK          int     `json:"ok"`
	Errors      Errors  `json:"errors"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	SessionLost int     `json:"sessions_lost"`
}

// SuccessRate is OK/Requests (1 for an empty second).
func (s Second) SuccessRate() float64 {
	if s.Requests == 0 {
		return 1
	}
	return float64(s.OK) / float64(s.Requests)
}

// Event is something the harness did (or saw) during a scenario, at a
// time relative to the start of the load.
type Event struct {
	Type     string  `json:"type"` // kill, revive, redis-stop, redis-start, logout
	AtS      float64 `json:"at_s"`
	Instance string  `json:"instance,omitempty"`
}

// Gateway is the gateways' resource use during a scenario.
type Gateway struct {
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUPerRequestUs float64 `json:"cpu_us_per_request"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
}

// Failover is what the failover scenario saw.
type Failover struct {
	KilledInstance string  `json:"killed_instance"`
	KillAtS        float64 `json:"kill_at_s"`
	ReviveAtS      float64 `json:"revive_at_s"`
	// PinnedUsers are the users last served by the killed instance before
	// the kill (sorted).
	PinnedUsers []string `json:"pinned_users"`
	// LostUsers are the users whose session was lost after the kill (sorted).
	LostUsers     []string `json:"lost_users"`
	PinnedAndLost int      `json:"pinned_and_lost"`
	PinnedNotLost int      `json:"pinned_not_lost"`
	LostNotPinned int      `json:"lost_not_pinned"`
	// RecoveryS is the time from the kill until the success rate was back
	// to ≥ 99% for 5 consecutive seconds; nil when it never was.
	RecoveryS *float64 `json:"recovery_s"`
	// DeadInstanceRequests: requests sent between the kill and the revive
	// whose answer shows they went to the dead or frozen instance: a
	// 502/504 naming it (X-Authlab-Instance), a late answer from it (a
	// freeze), or no answer at all. Retried requests are not among them
	// (see LBFailedTries).
	DeadInstanceRequests int `json:"dead_instance_requests"`
	// WindowErrors: failed requests between kill and revive.
	WindowErrors int `json:"window_errors"`

	// KillMode is how the instance went down: announced (the lb's admin
	// kill, which takes it out of rotation first), crash (SIGKILL from
	// outside the lb, which learns of it from failed requests and health
	// checks only), freeze (SIGSTOP from outside, SIGCONT at the revive),
	// drain (the lb's drain: no new requests, in-flight ones finish).
	// Empty in reports written before the field.
	KillMode string `json:"kill_mode,omitempty"`
	// Retry reports whether the lb retried failed requests on another
	// instance during the phase.
	Retry bool `json:"retry"`
	// FreezeS is how long a freeze lasted (0 for the other modes).
	FreezeS float64 `json:"freeze_s,omitempty"`
	// DetectionS is the time from the kill until the lb took the instance
	// out of rotation (its "down" event); nil when it did not before the
	// revive. DetectedBy is the reason the lb gave.
	DetectionS *float64 `json:"detection_s"`
	DetectedBy string   `json:"detected_by,omitempty"`
	// LBFailedTries counts the requests the lb sent to the instance
	// between the kill and the revive that got no answer from it, whether
	// retried elsewhere or answered 502/504 (the lb's per-instance
	// counter); nil when it could not be read.
	LBFailedTries *int `json:"lb_failed_tries"`
	// FailedRequests: failed requests from the kill to the end of the phase.
	FailedRequests int `json:"failed_requests"`
	// SessionsLost: sessions lost from the kill to the end of the phase.
	SessionsLost int `json:"sessions_lost"`
	// Variants are the other kill modes and retry settings the same
	// scenario ran, one whole load phase each, in the order run; the
	// fields above (and the scenario's) describe the first.
	Variants []Scenario `json:"variants,omitempty"`
}

// RedisOutage is what the redis-outage scenario saw.
type RedisOutage struct {
	StopAtS  float64 `json:"stop_at_s"`
	StartAtS float64 `json:"start_at_s"`
	// DuringRequests and DuringOK count requests sent while Redis was down.
	DuringRequests int    `json:"during_requests"`
	DuringOK       int    `json:"during_ok"`
	DuringErrors   Errors `json:"during_errors"`
	// RecoveryS: from the restart until ≥ 99% success for 5 s; nil if never.
	RecoveryS *float64 `json:"recovery_s"`
}

// Revocation is the lag between a logout and every instance rejecting the
// logged-out credential.
type Revocation struct {
	Sampled   int         `json:"sampled"`
	Instances int         `json:"instances"`
	TimeoutS  float64     `json:"timeout_s"`
	Lag       Percentiles `json:"lag"`
	// NotRevoked counts (user, instance) pairs still accepting the
	// credential when the timeout ran out.
	NotRevoked int `json:"not_revoked"`
	// Pairs is the number of (user, instance) pairs polled.
	Pairs int `json:"pairs"`
	// SpreadS, when > 0, says the sampled users logged in afresh and out
	// after delays spread evenly over this many seconds (logouts at
	// spread token ages) rather than right after the load.
	SpreadS float64 `json:"logout_spread_s,omitempty"`
}

// CapacityStep is one rate tried by the capacity scenario.
type CapacityStep struct {
	Rate      float64 `json:"rate"`
	Achieved  float64 `json:"achieved"`
	P99       float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"`
	Pass      bool    `json:"pass"`
	// Saturated: the load generator did not keep up at this rate (see
	// Load), so the step measured the generator, not the system; it never
	// passes.
	Saturated bool        `json:"saturated,omitempty"`
	Load      *LoadHealth `json:"load,omitempty"`
	// CPU of each side over the step, percent of one core.
	GeneratorCPUPercent float64 `json:"generator_cpu_percent,omitempty"`
	GatewaysCPUPercent  float64 `json:"gateways_cpu_percent,omitempty"`
	LBCPUPercent        float64 `json:"lb_cpu_percent,omitempty"`
}

// Capacity is the result of the capacity scenario.
type Capacity struct {
	BoundP99Ms float64        `json:"bound_p99_ms"`
	Steps      []CapacityStep `json:"steps"`
	// MaxRate is the highest rate that passed (0 when none did).
	MaxRate float64 `json:"max_rate"`
	// LimitedBy says which side ran out at the lowest failing step:
	// "generator" (the harness could not keep the rate), "gateways" or
	// "lb" (the one using the most CPU), with the figures in LimitReason.
	LimitedBy   string `json:"limited_by,omitempty"`
	LimitReason string `json:"limit_reason,omitempty"`
}

// Scenario is the measurements of one scenario.
type Scenario struct {
	Name       string `json:"name"`
	Skipped    bool   `json:"skipped,omitempty"`
	SkipReason string `json:"skip_reason,omitempty"`

	// Warnings say why the numbers may not be trusted (for example the
	// load generator itself stalled because the machine was overloaded).
	Warnings []string `json:"warnings,omitempty"`

	DurationS     float64     `json:"duration_s"`
	RequestedRate float64     `json:"requested_rate"`
	AchievedRate  float64     `json:"achieved_rate"`
	Requests      int         `json:"requests"`
	OK            int         `json:"ok"`
	Latency       Percentiles `json:"latency"`
	Errors        Errors      `json:"errors"`
	Timeline      []Second    `json:"timeline"`
	Events        []Event     `json:"events"`

	SessionsLost int `json:"sessions_lost"`
	// SessionsLostByInstance: instance that last served the user before
	// the loss → number of sessions lost.
	SessionsLostByInstance map[string]int `json:"sessions_lost_by_instance"`
	Relogins               int            `json:"relogins"`
	ReloginFailures        int            `json:"relogin_failures"`
	ReloginLatency         Percentiles    `json:"relogin_latency"`
	// Refreshes and RefreshFailures count the access-token refreshes the
	// users made ahead of expiry (the load driver's refresh-ahead, on for
	// refreshable strategies in the scenarios that ask for it), with their
	// latency; absent when none was tried.
	Refreshes       int          `json:"refreshes,omitempty"`
	RefreshFailures int          `json:"refresh_failures,omitempty"`
	RefreshLatency  *Percentiles `json:"refresh_latency,omitempty"`
	// RefreshInterval is the time between two consecutive refreshes of
	// the same user (the period an active user refreshes at); absent
	// when no user refreshed twice.
	RefreshInterval *Percentiles `json:"refresh_interval,omitempty"`

	CredentialBytes float64 `json:"credential_bytes_per_request"`
	// RedisCommandsPerRequest is nil when Redis was not measured.
	RedisCommandsPerRequest *float64         `json:"redis_commands_per_request"`
	RedisCommands           map[string]int64 `json:"redis_commands,omitempty"`
	Gateway                 Gateway          `json:"gateway"`

	Failover    *Failover    `json:"failover,omitempty"`
	RedisOutage *RedisOutage `json:"redis_outage,omitempty"`
	Revocation  *Revocation  `json:"revocation,omitempty"`
	Capacity    *Capacity    `json:"capacity,omitempty"`
	Cost        *Cost        `json:"cost,omitempty"`

	RedisFailover  *RedisFailover `json:"redis_failover,omitempty"`
	RedisPartition *Partition     `json:"redis_partition,omitempty"`

	// Traffic says how the requests were spread over the users.
	Traffic *Traffic `json:"traffic,omitempty"`
	// RedisRTT and RedisHang: the network-condition scenarios (redisrtt.go).
	RedisRTT  *RedisRTT  `json:"redis_rtt,omitempty"`
	RedisHang *RedisHang `json:"redis_hang,omitempty"`
	// Mixed: the mixed scenario's per-route results (mixed.go).
	Mixed *Mixed `json:"mixed,omitempty"`
	// Hops is where the answered requests' time went, hop by hop (from
	// Server-Timing); nil when no response carried it.
	Hops *Hops `json:"hops,omitempty"`

	// Load says whether the load generator kept up during this scenario.
	Load *LoadHealth `json:"load,omitempty"`
}

// Scenario returns the scenario called name, or nil.
func (r *Report) Scenario(name string) *Scenario {
	for i := range r.Scenarios {
		if r.Scenarios[i].Name == name {
			return &r.Scenarios[i]
		}
	}
	return nil
}

// WriteJSON writes r as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// ReadJSON reads a report.json, refusing an unknown schema version.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode report %s: %w", path, err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("report %s: schema_version %d, this authlab reads %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// Float returns a pointer to v (for the optional fields).
func Float(v float64) *float64 { return &v }
