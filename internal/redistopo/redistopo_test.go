package redistopo

import (
	"strings"
	"testing"
	"time"
)

// The expected slots are what CLUSTER KEYSLOT of redis-server 7.0 answers.
func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"", 0},
		{"somekey", 11058},
		{"foo", 12182},
		{"bar", 5061},
		{"foo{hash_tag}", 2515},
		{"foo{}{bar}", 8363},    // empty tag: the whole key
		{"foo{{bar}}zap", 4015}, // tag "{bar"
		{"foo{bar}{zap}", 5061}, // first tag only: "bar"
		{"{user1000}.following", 3443},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestProbeKeyIsInItsSlot(t *testing.T) {
	for _, slot := range []int{0, 1, 5460, 5461, 12182, Slots - 1} {
		k := probeKey(slot)
		if got := Slot(k); got != slot {
			t.Errorf("probeKey(%d) = %q, in slot %d", slot, k, got)
		}
		if !strings.HasPrefix(k, "redistopo:probe:") {
			t.Errorf("probeKey(%d) = %q: not in the probe namespace", slot, k)
		}
	}
}

func TestParseClusterNodes(t *testing.T) {
	text := `07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@31001 myself,master - 0 0 1 connected 0-5460 7000 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 slave,fail? 67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 0 1426238316232 5 connected
`
	nodes, err := parseClusterNodes(text, "10.1.2.3:30001")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 5 {
		t.Fatalf("%d nodes, want 5", len(nodes))
	}
	tests := []struct {
		i          int
		addr       string
		master     bool
		failing    bool
		serves     []int
		servesNot  []int
		masterID   string
		wantMyself bool
	}{
		{0, "127.0.0.1:30004", false, false, nil, []int{0}, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca", false},
		{1, "127.0.0.1:30002", true, false, []int{5461, 8000, 10922}, []int{5460, 10923}, "-", false},
		{2, "127.0.0.1:30003", true, true, []int{10923, 16383}, nil, "-", false},
		// Its own line shows no IP: the host asked is used.
		{3, "10.1.2.3:30001", true, false, []int{0, 5460, 7000}, []int{5461, 6999}, "-", true},
		{4, "127.0.0.1:30005", false, true, nil, nil, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1", false},
	}
	for _, tt := range tests {
		n := nodes[tt.i]
		if n.addr != tt.addr || n.has("master") != tt.master || n.failing() != tt.failing ||
			n.masterID != tt.masterID || n.has("myself") != tt.wantMyself {
			t.Errorf("node %d = %+v, want addr %s master %v failing %v masterID %s myself %v",
				tt.i, n, tt.addr, tt.master, tt.failing, tt.masterID, tt.wantMyself)
		}
		for _, s := range tt.serves {
			if !n.serves(s) {
				t.Errorf("node %d does not serve slot %d", tt.i, s)
			}
		}
		for _, s := range tt.servesNot {
			if n.serves(s) {
				t.Errorf("node %d serves slot %d", tt.i, s)
			}
		}
	}

	for _, bad := range []string{
		"abc 127.0.0.1:1@2 master - 0 0",                   // too few fields
		"abc 127.0.0.1:1@2 master - 0 0 1 connected x-3",   // not a slot
		"abc 127.0.0.1:1@2 master - 0 0 1 connected 10-3",  // backwards range
		"abc 127.0.0.1:1@2 master - 0 0 1 connected 10-zz", // not a slot
	} {
		if _, err := parseClusterNodes(bad, "127.0.0.1:1"); err == nil {
			t.Errorf("parseClusterNodes(%q): no error", bad)
		}
	}
}

func TestClusterConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ClusterConfig
		wantErr string
	}{
		{"defaults", ClusterConfig{}, ""},
		{"explicit", ClusterConfig{Masters: 4, ReplicasPerMaster: 2, NodeTimeout: time.Second}, ""},
		{"two masters", ClusterConfig{Masters: 2}, "at least 3"},
		{"negative replicas", ClusterConfig{ReplicasPerMaster: -1}, "replicas"},
		{"tiny node timeout", ClusterConfig{NodeTimeout: time.Millisecond}, "node timeout"},
		{"negative start timeout", ClusterConfig{StartTimeout: -time.Second}, "start timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSentinelConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SentinelConfig
		wantErr string
	}{
		{"defaults", SentinelConfig{}, ""},
		{"explicit", SentinelConfig{MasterName: "sessions", Replicas: 1, Sentinels: 5, Quorum: 3, DownAfter: time.Second}, ""},
		{"name with a slash", SentinelConfig{MasterName: "a/b"}, "master name"},
		{"name with a space", SentinelConfig{MasterName: "a b"}, "master name"},
		{"negative replicas", SentinelConfig{Replicas: -1}, "replicas"},
		{"quorum above sentinels", SentinelConfig{Sentinels: 3, Quorum: 4}, "quorum"},
		{"tiny down-after", SentinelConfig{DownAfter: time.Millisecond}, "down-after"},
		{"tiny failover timeout", SentinelConfig{FailoverTimeout: time.Millisecond}, "failover timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
