package bench

import (
	"strings"
	"testing"
	"time"
)

func TestCPUModel(t *testing.T) {
	if m := cpuModel(strings.NewReader("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n")); m != "AMD EPYC 7B13" {
		t.Errorf("cpuModel = %q", m)
	}
	if m := cpuModel(strings.NewReader("processor\t: 0\n")); m != "unknown" {
		t.Errorf("cpuModel without model = %q", m)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Strategy: "sticky", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true",
		Scenarios: []string{"revocation", "steady"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Policy != "sticky" || strings.Join(ok.Scenarios, ",") != "steady,revocation" || ok.RevocationSample != 1 {
		t.Errorf("defaults: policy %s scenarios %v sample %d", ok.Policy, ok.Scenarios, ok.RevocationSample)
	}
	j := Config{Strategy: "jwt", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true"}
	if err := j.Validate(); err != nil || j.Policy != "round-robin" || strings.Join(j.Scenarios, ",") != "steady,failover,revocation" {
		t.Errorf("jwt defaults: %v %s %v", err, j.Policy, j.Scenarios)
	}
	bad := []func(*Config){
		func(c *Config) { c.Strategy = "kerberos" },
		func(c *Config) { c.Scenarios = []string{"chaos"} },
		func(c *Config) { c.Rate = 0 },
		func(c *Config) { c.Duration = 10 * time.Millisecond },
		func(c *Config) { c.Users = 0 },
		func(c *Config) { c.Instances = 0 },
		func(c *Config) { c.Policy = "random" },
		func(c *Config) { c.Exe = "" },
	}
	for i, mutate := range bad {
		c := Config{Strategy: "jwt", Rate: 10, Duration: time.Second, Users: 5, Instances: 2, Exe: "/bin/true"}
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
}
