package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// FloorName names the floor's load phase.
const FloorName = "floor"

// echoBody is what the echo server answers: a small JSON object, about
// the size of the backend's /api/me answer.
const echoBody = `{"user":"anonymous","roles":[],"instance":"echo"}`

// MeasureFloor is the measurement floor: the load the harness would send
// (cfg's users and path, rate for dur) against a bare HTTP server on
// loopback that answers 200 with a small JSON body at once. Whatever
// latency it shows is the harness's and the loopback's own, which every
// strategy's sits on top of. The echo server runs in this process, so the
// floor's generator CPU includes it.
func MeasureFloor(ctx context.Context, cfg Config, rate float64, dur time.Duration) (*report.Floor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("floor: listen: %w", err)
	}
	cfg.BaseURL = "http://" + ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("floor: %w", err)
	}
	srv := &http.Server{Handler: echoHandler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Warn("floor: echo server", "err", err)
		}
	}()
	d, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	pr, err := d.Run(ctx, Phase{Name: FloorName, Rate: rate, Duration: dur})
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	s := pr.Summary()
	if s.OK < s.Requests {
		return nil, fmt.Errorf("floor: %d of %d requests to the echo server failed", s.Requests-s.OK, s.Requests)
	}
	return &report.Floor{Rate: rate, Latency: s.Latency, Load: s.Load}, nil
}

// echoHandler answers every request with 200 and echoBody.
func echoHandler() http.Handler {
	body := []byte(echoBody)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}
