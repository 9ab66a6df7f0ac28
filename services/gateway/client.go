package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxyTrust decides whose forwarding headers are believed: only a TCP
// peer inside one of its prefixes (Config.TrustedProxies). gin has a
// ClientIP with trusted proxies too, but its trust check is not exported
// and the origin check needs it for X-Forwarded-Proto and -Host as well.
type proxyTrust struct {
	prefixes []netip.Prefix
}

func (t proxyTrust) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// trustedPeer reports whether r's TCP peer is a trusted proxy.
func (t proxyTrust) trustedPeer(r *http.Request) bool {
	if len(t.prefixes) == 0 {
		return false
	}
	a, ok := peerAddr(r)
	return ok && t.trusted(a)
}

// clientAddr is the client's IP address: the TCP peer, unless the peer is
// a trusted proxy; then X-Forwarded-For is read from the right (the end
// the trusted proxies appended to) and the first address not itself a
// trusted proxy is the client. A malformed entry stops the walk at the
// last address known good.
func (t proxyTrust) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if !t.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" && len(hops) == 1 {
			break // no X-Forwarded-For at all
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			break
		}
		client = a.Unmap()
		if !t.trusted(client) {
			break
		}
	}
	return client.String()
}
