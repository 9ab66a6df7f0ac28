package measure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/authlab/authlab/lb"
)

// HeapPath is the gateway admin plane's endpoint that forces a GC and
// answers the live heap (cmd/authlab's gateway serves it).
const HeapPath = "/_admin/heap"

// Heap is the body of GET /_admin/heap: the live heap right after a
// forced garbage collection.
type Heap struct {
	HeapAllocBytes int64 `json:"heap_alloc_bytes"`
	HeapObjects    int64 `json:"heap_objects"`
}

// GatewayHeaps reads the live heap of every gateway through its admin
// plane (token: the gateways' admin token) and returns their sum. It
// fails when any gateway cannot be read: a sum over some of them is not
// comparable with another.
func GatewayHeaps(ctx context.Context, client *http.Client, insts []lb.InstanceInfo, token string) (Heap, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	var sum Heap
	var errs []error
	n := 0
	for _, in := range insts {
		if in.AdminAddress == "" {
			errs = append(errs, fmt.Errorf("gateway %s: no admin address", in.ID))
			continue
		}
		h, err := readHeap(ctx, client, "http://"+in.AdminAddress+HeapPath, token)
		if err != nil {
			errs = append(errs, fmt.Errorf("gateway %s: %w", in.ID, err))
			continue
		}
		sum.HeapAllocBytes += h.HeapAllocBytes
		sum.HeapObjects += h.HeapObjects
		n++
	}
	if n == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no gateway listed"))
	}
	return sum, errors.Join(errs...)
}

func readHeap(ctx context.Context, client *http.Client, url, token string) (Heap, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Heap{}, fmt.Errorf("heap: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return Heap{}, fmt.Errorf("heap: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return Heap{}, fmt.Errorf("heap: %s: %s", resp.Status, b)
	}
	var h Heap
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return Heap{}, fmt.Errorf("heap: decode: %w", err)
	}
	return h, nil
}
