package topology

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlab/authlab/bench/internal/e2e"
	"github.com/authlab/authlab/lb"
)

func TestUpstreamNetValidate(t *testing.T) {
	tests := []struct {
		name    string
		net     *UpstreamNet
		wantErr string
		args    []string
	}{
		{"none", nil, "", nil},
		{"zero", &UpstreamNet{}, "", nil},
		{"latency", &UpstreamNet{Latency: 2 * time.Millisecond}, "", []string{"--upstream-latency", "2ms", "--upstream-jitter", "0s"}},
		{"jitter", &UpstreamNet{Latency: time.Millisecond, Jitter: 200 * time.Microsecond}, "", []string{"--upstream-latency", "1ms", "--upstream-jitter", "200µs"}},
		{"negative latency", &UpstreamNet{Latency: -time.Millisecond}, "≥ 0", nil},
		{"negative jitter", &UpstreamNet{Jitter: -time.Millisecond}, "≥ 0", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Exe: "x", Strategy: "jwt", Instances: 1, SeedUsers: 1, UpstreamNet: tc.net}
			err := c.Validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
			pc := PoolsConfig{Exe: "x", SeedUsers: 1, Pools: []PoolSpec{{Name: "a", Strategy: "none", Instances: 1}}, UpstreamNet: tc.net}
			if perr := pc.Validate(); (perr == nil) != (err == nil) {
				t.Errorf("PoolsConfig.Validate() = %v, Config.Validate() = %v: want the same verdict", perr, err)
			}
			if err == nil && strings.Join(tc.net.lbArgs(), " ") != strings.Join(tc.args, " ") {
				t.Errorf("lb args %q, want %q", tc.net.lbArgs(), tc.args)
			}
		})
	}
}

// TestUpstreamProxyEndToEnd starts a real topology with 20 ms of upstream
// latency: the lb routes every gateway through its own proxy (its
// instance address is the proxy's, the proxy forwards to the gateway's
// own address with the latency toxic installed), a request through the lb
// works, and a killed and revived gateway is reachable through a proxy.
func TestUpstreamProxyEndToEnd(t *testing.T) {
	exe := e2e.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const rtt = 20 * time.Millisecond
	topo, err := Start(ctx, Config{
		Exe: exe, Strategy: "none", Instances: 2, SeedUsers: 2,
		UpstreamNet: &UpstreamNet{Latency: rtt},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer topo.Close()

	insts, err := topo.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		checkFronted(t, in, rtt)
		// The gateway itself answers on its own address, bypassing the proxy.
		if code, id := get(t, "http://"+in.ListenAddress+"/healthz"); code != 200 || id != in.ID {
			t.Errorf("%s on its own address %s: %d from %q", in.ID, in.ListenAddress, code, id)
		}
	}
	start := time.Now()
	if code, _ := get(t, topo.LBURL+"/healthz"); code != 200 {
		t.Fatalf("through the lb: %d", code)
	}
	if took := time.Since(start); took < rtt { // latency only adds: a lower bound
		t.Errorf("a request through the lb took %s, want ≥ %s", took, rtt)
	}

	before := insts[0]
	if err := topo.Kill(ctx, before.ID); err != nil {
		t.Fatal(err)
	}
	if err := topo.Revive(ctx, before.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		insts, err = topo.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var now lb.InstanceInfo
		for _, in := range insts {
			if in.ID == before.ID {
				now = in
			}
		}
		if now.State == lb.StateUp {
			checkFronted(t, now, rtt)
			if now.PID == before.PID {
				t.Errorf("%s revived with its old pid %d", now.ID, now.PID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up again after its revive: %+v", before.ID, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; ; i++ {
		if code, id := get(t, topo.LBURL+"/healthz"); code == 200 && id == before.ID {
			break
		}
		if i == 8 {
			t.Fatalf("revived %s answered none of 8 requests through the lb", before.ID)
		}
	}
}

// checkFronted asserts that the lb reaches in through a proxy of its own,
// forwarding to the gateway's own address with the latency toxic.
func checkFronted(t *testing.T, in lb.InstanceInfo, rtt time.Duration) {
	t.Helper()
	want := "toxiproxy → " + in.ListenAddress + ", +" + rtt.String() + " ± 0s"
	if in.ListenAddress == "" || in.Address == in.ListenAddress || in.Front != want {
		t.Errorf("%s: lb address %s, own %q, front %q: want a proxy before its own address described %q",
			in.ID, in.Address, in.ListenAddress, in.Front, want)
	}
}

// get sends GET url and returns the status and the instance that answered.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(lb.InstanceHeader)
}
