package measure

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/authlab/authlab/lb"
)

func TestParseStatPPID(t *testing.T) {
	stat := "1234 (auth lab (x)) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	if got, err := parseStatPPID(stat); err != nil || got != 77 {
		t.Fatalf("parseStatPPID = %d, %v; want 77", got, err)
	}
	for _, bad := range []string{"", "1 (x) S", "1 (x) S y"} {
		if _, err := parseStatPPID(bad); err == nil {
			t.Errorf("parseStatPPID(%q) accepted", bad)
		}
	}
	if got, err := ParentPID(os.Getpid()); err != nil || got != os.Getppid() {
		t.Errorf("ParentPID(self) = %d, %v; want %d", got, err, os.Getppid())
	}
}

// TestGatewayHeaps: the heaps of every gateway are summed; a gateway that
// refuses the token fails the reading rather than being left out.
func TestGatewayHeaps(t *testing.T) {
	const token = "tok"
	serve := func(alloc string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != HeapPath || r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"heap_alloc_bytes":` + alloc + `,"heap_objects":10}`))
		}))
	}
	a, b := serve("1000"), serve("2500")
	defer a.Close()
	defer b.Close()
	insts := []lb.InstanceInfo{
		{ID: "gw1", AdminAddress: strings.TrimPrefix(a.URL, "http://")},
		{ID: "gw2", AdminAddress: strings.TrimPrefix(b.URL, "http://")},
	}
	h, err := GatewayHeaps(context.Background(), nil, insts, token)
	if err != nil || h.HeapAllocBytes != 3500 || h.HeapObjects != 20 {
		t.Fatalf("GatewayHeaps = %+v, %v; want 3500 bytes, 20 objects", h, err)
	}
	if _, err := GatewayHeaps(context.Background(), nil, insts, "wrong"); err == nil || !strings.Contains(err.Error(), "gw1") {
		t.Errorf("wrong token: err = %v", err)
	}
	if _, err := GatewayHeaps(context.Background(), nil, append(insts, lb.InstanceInfo{ID: "gw3"}), token); err == nil {
		t.Error("a gateway without admin address was left out silently")
	}
}
