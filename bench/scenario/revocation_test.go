package scenario

import (
	"context"
	"slices"
	"testing"

	"github.com/authlab/authlab/lb"
)

// staticGateways lists fixed instances.
type staticGateways struct {
	*fakeGateways
	insts []lb.InstanceInfo
}

func (g staticGateways) Instances(context.Context) ([]lb.InstanceInfo, error) { return g.insts, nil }

// TestRevocationPollsPastTheFront: revocation polls each gateway on its
// own address, not through the proxy the lb routes it through.
func TestRevocationPollsPastTheFront(t *testing.T) {
	g := staticGateways{insts: []lb.InstanceInfo{
		{ID: "gw1", Address: "127.0.0.1:7001", ListenAddress: "127.0.0.1:6001", State: lb.StateUp},
		{ID: "gw2", Address: "127.0.0.1:7002", State: lb.StateUp},
		{ID: "gw3", Address: "127.0.0.1:7003", ListenAddress: "127.0.0.1:6003", State: lb.StateKilled},
	}}
	urls, err := liveInstanceURLs(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.0.1:6001", "http://127.0.0.1:7002"}; !slices.Equal(urls, want) {
		t.Errorf("polled %v, want %v", urls, want)
	}
}
