package load

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/load/loadtest"
)

// TestRefreshAhead: with 2 s access tokens and a 3.5 s phase, users that
// refresh ahead of expiry keep every request succeeding past the TTL;
// without refresh-ahead the tokens expire and requests fail with 401.
func TestRefreshAhead(t *testing.T) {
	const ttl = 2 * time.Second
	tests := []struct {
		name   string
		margin time.Duration
	}{
		{"on", time.Second},
		{"off", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl, srv := loadtest.NewCluster(t, 2, false)
			cl.SetAccessTTL(ttl)
			d, err := New(Config{BaseURL: srv.URL, Users: 10, Password: loadtest.Password, RefreshAhead: tc.margin})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.LoginAll(context.Background()); err != nil {
				t.Fatal(err)
			}
			pr, err := d.Run(context.Background(), Phase{Name: "refresh", Rate: 100, Duration: ttl + 1500*time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			s := pr.Summary()
			var late, lateOK int
			for _, r := range pr.Records {
				if r.At > ttl+200*time.Millisecond {
					late++
					if r.Class == ClassOK {
						lateOK++
					}
				}
			}
			if late == 0 {
				t.Fatalf("no request sent past the TTL (%d requests)", s.Requests)
			}
			if tc.margin > 0 {
				if s.OK != s.Requests || s.SessionsLost != 0 || lateOK != late {
					t.Errorf("with refresh-ahead: ok %d of %d (past the TTL %d of %d), errors %+v, lost %d",
						s.OK, s.Requests, lateOK, late, s.Errors, s.SessionsLost)
				}
				if s.Refreshes < 10 || s.RefreshFailures != 0 || cl.Refreshed() != s.Refreshes || s.RefreshLatency == nil {
					t.Errorf("refreshes %d (server %d), failed %d, latency %v; want every user refreshed once at least",
						s.Refreshes, cl.Refreshed(), s.RefreshFailures, s.RefreshLatency)
				}
				return
			}
			if s.Errors.SessionLost == 0 || s.SessionsLost == 0 {
				t.Errorf("without refresh-ahead: errors %+v, lost %d; want 401s once the tokens expire", s.Errors, s.SessionsLost)
			}
			if s.Refreshes != 0 || cl.Refreshed() != 0 {
				t.Errorf("refreshes %d (server %d) with refresh-ahead off", s.Refreshes, cl.Refreshed())
			}
		})
	}
}

func TestExpiresAt(t *testing.T) {
	sent := time.Unix(1000, 0)
	jwt := func(payload string) string {
		return "h." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".s"
	}
	tests := []struct {
		name      string
		expiresIn int64
		token     string
		want      time.Time
	}{
		{"neither", 0, "opaque", time.Time{}},
		{"expires_in only", 30, "opaque", time.Unix(1030, 0)},
		{"exp only", 0, jwt(`{"exp":1020}`), time.Unix(1020, 0)},
		{"exp earlier", 30, jwt(`{"exp":1020}`), time.Unix(1020, 0)},
		{"expires_in earlier", 10, jwt(`{"exp":1020}`), time.Unix(1010, 0)},
		{"exp missing", 10, jwt(`{"sub":"u"}`), time.Unix(1010, 0)},
		{"payload not base64", 10, "h.!!!.s", time.Unix(1010, 0)},
		{"payload not json", 10, jwt(`nope`), time.Unix(1010, 0)},
	}
	for _, tc := range tests {
		if got := expiresAt(sent, tc.expiresIn, tc.token); !got.Equal(tc.want) {
			t.Errorf("%s: expiresAt = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConfigRefreshAheadNegative(t *testing.T) {
	if _, err := New(Config{BaseURL: "http://x", Users: 1, RefreshAhead: -time.Second}); err == nil {
		t.Error("negative refresh-ahead accepted")
	}
}
