package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authlab/authlab/bench/measure"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/lb"
	"github.com/authlab/authlab/services/gateway"
)

// gatewayAdmin talks to the one gateway's admin plane.
type gatewayAdmin struct {
	client *http.Client
	inst   lb.InstanceInfo // the gateway as the lb lists it
	url    string          // http://its admin address
	token  string
	caps   capabilities
	t      *topology.Topology
}

// capabilities is the part of /_admin/stats the probe needs.
type capabilities struct {
	Transport  string `json:"transport"`
	CookieName string `json:"cookie_name"`
	UsesRedis  bool   `json:"uses_redis"`
}

// stats is the part of GET /_admin/stats read here.
type stats struct {
	Capabilities capabilities `json:"capabilities"`
	CacheHits    *uint64      `json:"cache_hits"`
	CacheMisses  *uint64      `json:"cache_misses"`
}

func newGateway(ctx context.Context, t *topology.Topology) (*gatewayAdmin, error) {
	insts, err := t.Instances(ctx)
	if err != nil {
		return nil, err
	}
	if len(insts) != 1 || insts[0].AdminAddress == "" {
		return nil, fmt.Errorf("want one gateway with an admin address, the lb lists %d", len(insts))
	}
	g := &gatewayAdmin{client: &http.Client{Timeout: 10 * time.Minute}, inst: insts[0], url: "http://" + insts[0].AdminAddress, token: t.InstanceAdminToken, t: t}
	st, err := g.stats(ctx)
	if err != nil {
		return nil, err
	}
	g.caps = st.Capabilities
	return g, nil
}

// refresh re-reads the gateway's admin address (it moves on a revive).
func (g *gatewayAdmin) refresh(ctx context.Context) error {
	insts, err := g.t.Instances(ctx)
	if err != nil {
		return err
	}
	if len(insts) != 1 {
		return fmt.Errorf("the lb lists %d gateways, want 1", len(insts))
	}
	g.inst, g.url = insts[0], "http://"+insts[0].AdminAddress
	return nil
}

func (g *gatewayAdmin) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, body)
	if err != nil {
		return fmt.Errorf("gateway admin %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("gateway admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("gateway admin %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("gateway admin %s: decode: %w", path, err)
	}
	return nil
}

func (g *gatewayAdmin) stats(ctx context.Context) (stats, error) {
	var s stats
	return s, g.do(ctx, http.MethodGet, "/_admin/stats", nil, &s)
}

// preloadChunk is the most sessions asked of one preload request: the
// admin plane's write timeout bounds how long one request may take.
const preloadChunk = 50_000

// preload mints sessions for users first..first+count-1, preloadChunk at
// a time, and sums the answers.
func (g *gatewayAdmin) preload(ctx context.Context, first, count int) (gateway.PreloadResult, error) {
	var sum gateway.PreloadResult
	for done := 0; done < count; {
		n := min(preloadChunk, count-done)
		if err := g.preloadOnce(ctx, gateway.PreloadRequest{First: first + done, Count: n, Tokens: true}, &sum); err != nil {
			return sum, err
		}
		done += n
	}
	return sum, nil
}

// preloadUsers mints a new session for each of users, in order.
func (g *gatewayAdmin) preloadUsers(ctx context.Context, users []int) (gateway.PreloadResult, error) {
	var sum gateway.PreloadResult
	for done := 0; done < len(users); {
		n := min(preloadChunk, len(users)-done)
		if err := g.preloadOnce(ctx, gateway.PreloadRequest{Users: users[done : done+n], Tokens: true}, &sum); err != nil {
			return sum, err
		}
		done += n
	}
	return sum, nil
}

// preloadOnce sends one preload request and adds its answer to sum.
func (g *gatewayAdmin) preloadOnce(ctx context.Context, req gateway.PreloadRequest, sum *gateway.PreloadResult) error {
	var r gateway.PreloadResult
	if err := g.do(ctx, http.MethodPost, "/_admin/preload", req, &r); err != nil {
		return err
	}
	sum.Minted += r.Minted
	sum.Failed += r.Failed
	sum.Seconds += r.Seconds
	sum.Tokens = append(sum.Tokens, r.Tokens...)
	sum.Expires = append(sum.Expires, r.Expires...)
	if sum.FirstError == "" {
		sum.FirstError = r.FirstError
	}
	return nil
}

func (g *gatewayAdmin) heap(ctx context.Context) (int64, error) {
	h, err := measure.GatewayHeaps(ctx, g.client, []lb.InstanceInfo{g.inst}, g.token)
	return h.HeapAllocBytes, err
}

// reading is the memory at one moment.
type reading struct{ heap, redis int64 }

// meter reads the gateway's live heap and Redis's used_memory.
type meter struct {
	gw        *gatewayAdmin
	redisURL  string
	usesRedis bool
}

func (m *meter) read(ctx context.Context) (reading, error) {
	var r reading
	var err error
	if r.heap, err = m.gw.heap(ctx); err != nil {
		return r, err
	}
	if m.usesRedis {
		if m.redisURL == "" {
			return r, errors.New("the strategy uses Redis but the topology has no single Redis to read")
		}
		if r.redis, err = (measure.RedisCounters{URL: m.redisURL}).UsedMemory(ctx); err != nil {
			return r, err
		}
	}
	return r, nil
}
