package lb

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serverTimings parses name;dur=ms entries of a Server-Timing value.
func serverTimings(t *testing.T, v string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, e := range strings.Split(v, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(e), ";dur=")
		f, err := strconv.ParseFloat(dur, 64)
		if !ok || err != nil {
			t.Fatalf("entry %q of %q", e, v)
		}
		out[name] = f
	}
	return out
}

func TestServerTimingAppendsLB(t *testing.T) {
	// The upstream spends 5 ms and says so, as a gateway would.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, `{"status":"ok","instance":"a"}`)
			return
		}
		time.Sleep(5 * time.Millisecond) // the upstream's own work, not synchronisation
		w.Header().Set(ServerTimingHeader, "gw;dur=5")
		_, _ = io.WriteString(w, "{}")
	}))
	defer up.Close()
	l, err := New(Config{External: []External{{Addr: strings.TrimPrefix(up.URL, "http://")}},
		AdminToken: testAdminToken, CookieKey: []byte("servertiming-cookie-key-0123456789"),
		HealthInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://lb/api/me", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	vs := rec.Result().Header.Values(ServerTimingHeader)
	if len(vs) != 1 {
		t.Fatalf("Server-Timing %q, want one line", vs)
	}
	d := serverTimings(t, vs[0])
	if _, ok := d["gw"]; !ok {
		t.Fatalf("the upstream's gw entry was lost: %q", vs[0])
	}
	if lbDur, ok := d["lb"]; !ok || lbDur < d["gw"] {
		t.Errorf("lb entry %v (present %v), want ≥ gw %v: %q", lbDur, ok, d["gw"], vs[0])
	}

	// An answer the lb gives itself carries its entry alone.
	rec = httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://lb/_lb/instances", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("admin path on the data port: status %d", rec.Code)
	}
	if d := serverTimings(t, rec.Result().Header.Get(ServerTimingHeader)); len(d) != 1 || d["lb"] < 0 {
		t.Errorf("lb's own answer: Server-Timing %v, want lb alone", d)
	}
}

func TestAppendServerTiming(t *testing.T) {
	for _, tc := range []struct {
		name string
		have []string
		want []string
	}{
		{"none", nil, []string{"lb;dur=1.500"}},
		{"one", []string{"gw;dur=1"}, []string{"gw;dur=1, lb;dur=1.500"}},
		{"several lines", []string{"a;dur=1", "gw;dur=1"}, []string{"a;dur=1", "gw;dur=1, lb;dur=1.500"}},
		{"empty value", []string{""}, []string{"lb;dur=1.500"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.have != nil {
				h[ServerTimingHeader] = tc.have
			}
			appendServerTiming(h, 1500*time.Microsecond, new([1]string))
			if got := h[ServerTimingHeader]; strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestAppendMillis: the lb's duration reads as strconv's %.3f of the
// milliseconds would, to the microsecond.
func TestAppendMillis(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000"}, {-time.Millisecond, "0.000"}, {499, "0.000"}, {500, "0.001"}, {1499 * time.Nanosecond, "0.001"},
		{1500 * time.Microsecond, "1.500"}, {999_999_499, "999.999"}, {999_999_500, "1000.000"},
		{12*time.Second + 34*time.Microsecond, "12000.034"}, {time.Hour, "3600000.000"},
	} {
		if got := string(appendMillis(nil, tt.d)); got != tt.want {
			t.Errorf("appendMillis(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for d := time.Duration(0); d < 50*time.Millisecond; d += 7919 { // whole microseconds and between
		got := string(appendMillis(nil, d))
		want := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
		if got != want && d%500 != 0 { // exact half microseconds: float rounding to even
			t.Fatalf("appendMillis(%d) = %q, strconv %q", d, got, want)
		}
	}
}
