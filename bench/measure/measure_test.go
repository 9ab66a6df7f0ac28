package measure

import (
	"maps"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// comm with spaces and parentheses; utime=250, stime=50 ticks.
	stat := "1234 (auth lab (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"", "1234 no-paren", "1 (x) S 1 2"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestStatusKB(t *testing.T) {
	st := "Name:\tauthlab\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n"
	if got := statusKB(st, "VmHWM"); got != 20480*1024 {
		t.Errorf("VmHWM = %d", got)
	}
	if got := statusKB(st, "VmSwap"); got != 0 {
		t.Errorf("missing key = %d", got)
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSSBytes <= 0 || p.HWMBytes < p.RSSBytes {
		t.Errorf("ReadProc(self) = %+v", p)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1) succeeded")
	}
}

func TestCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=10,usec=30,usec_per_call=3.00\r\ncmdstat_info:calls=2,usec=1\r\n")
	after := parseCommandStats("# Commandstats\r\ncmdstat_get:calls=110,usec=300\r\ncmdstat_set:calls=5,usec=3\r\n" +
		"cmdstat_info:calls=9,usec=1\r\ncmdstat_hello:calls=3,usec=1\r\ncmdstat_client|setinfo:calls=6,usec=1\r\ncmdstat_bad\r\n")
	if after["get"] != 110 || after["client|setinfo"] != 6 {
		t.Fatalf("parse = %v", after)
	}
	delta, total := CommandDelta(before, after)
	if want := map[string]int64{"get": 100, "set": 5}; !maps.Equal(delta, want) || total != 105 {
		t.Errorf("delta = %v (%d), want %v (105)", delta, total, want)
	}
}

func TestInfoField(t *testing.T) {
	if v := infoField("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis_version"); v != "7.0.15" {
		t.Errorf("infoField = %q", v)
	}
}
