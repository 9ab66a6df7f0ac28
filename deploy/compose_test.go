package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoDir is the repository root (the tests run in deploy/).
const repoDir = ".."

// needCompose skips t where no compose tool is installed.
func needCompose(t *testing.T) Tool {
	t.Helper()
	tool, err := FindTool(context.Background())
	if err != nil {
		t.Skipf("SKIPPED: %v — the compose tests need docker compose or docker-compose", err)
	}
	return tool
}

// needEngine skips t where no Docker engine answers, and in -short mode.
func needEngine(t *testing.T) Tool {
	t.Helper()
	if testing.Short() {
		t.Skip("builds images and starts containers (skipped with -short)")
	}
	if err := EngineAvailable(context.Background()); err != nil {
		t.Skipf("SKIPPED: %v — the compose deployment test needs a Docker engine", err)
	}
	return needCompose(t)
}

func randomName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "authlabtest" + hex.EncodeToString(b)
}

// TestComposeConfig: compose accepts the file with every secret given, and
// refuses it, naming the secret, with .env.example's empty placeholders.
func TestComposeConfig(t *testing.T) {
	tool := needCompose(t)
	ctx := context.Background()
	dir := t.TempDir()
	p := Project{Name: randomName(t), Dir: repoDir, Tool: tool, Profiles: Profiles}

	p.EnvFile = filepath.Join(repoDir, ".env.example")
	err := p.Config(ctx)
	if err == nil || !strings.Contains(err.Error(), "in .env (see .env.example)") {
		t.Fatalf("config with .env.example's empty secrets: %v; want a refusal naming the missing secret", err)
	}
	example, err := ReadEnv(p.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Secrets {
		if v, ok := example[s]; !ok || v != "" {
			t.Errorf(".env.example: %s = %q, present: %v; want an empty placeholder", s, v, ok)
		}
	}

	// Every secret given but one: compose names the missing one.
	for _, missing := range []string{"AUTHLAB_SEED_PASSWORD", "AUTHLAB_LB_ADMIN_TOKEN", "AUTHLAB_JWT_SECRET"} {
		env := NewEnv(nil)
		delete(env, missing)
		p.EnvFile = filepath.Join(dir, "missing.env")
		if err := WriteEnv(p.EnvFile, env); err != nil {
			t.Fatal(err)
		}
		if err := p.Config(ctx); err == nil || !strings.Contains(err.Error(), "set "+missing+" in .env") {
			t.Errorf("config without %s: %v; want it named", missing, err)
		}
	}

	p.EnvFile = filepath.Join(dir, "ok.env")
	if err := WriteEnv(p.EnvFile, NewEnv(nil)); err != nil {
		t.Fatal(err)
	}
	if err := p.Config(ctx); err != nil {
		t.Fatalf("config with every secret: %v", err)
	}
	services, err := p.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"redis", "redis-ready", "auth", "backend", "gw1", "gw2", "gw3", "lb", "haproxy",
		"redis-node-1", "redis-node-6", "redis-cluster-init",
		"redis-master", "redis-replica-1", "redis-replica-2", "redis-sentinel-1", "redis-sentinel-3"}
	for _, s := range want {
		if !slices.Contains(services, s) {
			t.Errorf("service %s missing from %v", s, services)
		}
	}
}

// deployment is a running compose project with its lb's addresses.
type deployment struct {
	Project
	env          map[string]string
	lb, lbAdmin  string // http://127.0.0.1:port
	client       *http.Client
	adminToken   string
	seedPassword string
}

// TestComposeDeployment builds the images as make compose-images does,
// starts the deployment under redis-session, kills gateways (docker kill,
// and through the lb's admin API) and checks sessions survive; then under
// sticky checks that a user pinned to the killed gateway loses the session
// (401) and can log in again, while users pinned elsewhere keep theirs.
// Everything is removed at the end, also on failure.
func TestComposeDeployment(t *testing.T) {
	tool := needEngine(t)
	ctx := context.Background()
	began := time.Now()
	var buildLog bytes.Buffer
	if err := BuildImages(ctx, repoDir, &buildLog); err != nil {
		t.Fatalf("build images: %v\n%s", err, buildLog.String())
	}
	t.Logf("images built in %v:\n%s", time.Since(began).Round(time.Second), strings.TrimSpace(buildLog.String()))

	lbAddr, adminAddr := FreePort(t), FreePort(t)
	d := &deployment{
		Project: Project{Name: randomName(t), Dir: repoDir, Tool: tool, EnvFile: filepath.Join(t.TempDir(), "compose.env")},
		lb:      "http://" + lbAddr, lbAdmin: "http://" + adminAddr,
		client: &http.Client{Timeout: 10 * time.Second},
	}
	d.env = NewEnv(map[string]string{
		"STRATEGY": "redis-session", "LB_POLICY": "round-robin",
		"AUTHLAB_LB_PORT": portOf(lbAddr), "AUTHLAB_LB_ADMIN_PORT": portOf(adminAddr),
		"AUTHLAB_SEED_USERS": "20", "AUTHLAB_BCRYPT_COST": "4", "AUTHLAB_LOG_LEVEL": "warn",
	})
	d.adminToken, d.seedPassword = d.env["AUTHLAB_LB_ADMIN_TOKEN"], d.env["AUTHLAB_SEED_PASSWORD"]
	t.Cleanup(func() { d.tearDown(t) })

	// --- redis-session: a gateway's crash loses no session --------------
	d.up(t)
	t.Logf("up (redis-session) after %v", time.Since(began).Round(time.Second))
	d.checkLoopbackOnly(t)

	if out, err := d.Exec(ctx, "redis", "redis-cli", "ping"); err != nil || out != "PONG" {
		t.Fatalf("exec redis-cli ping in redis: %q, %v", out, err)
	}
	redisIP, err := docker(ctx, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", mustID(t, d, "redis"))
	if err != nil {
		t.Fatal(err)
	}
	if svc, err := d.ServiceAt(ctx, redisIP); err != nil || svc != "redis" {
		t.Fatalf("ServiceAt(%s) = %q, %v; want redis", redisIP, svc, err)
	}

	u := d.newUser(t, "user0001")
	u.login(t)
	_, inst := u.me(t)
	if err := d.Kill(ctx, inst); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	status, served, n5xx := u.meUntilNot5xx(t)
	if status != http.StatusOK || served == inst {
		t.Fatalf("redis-session, %s killed: /api/me = %d from %s; want 200 from another gateway", inst, status, served)
	}
	t.Logf("redis-session: %s killed (docker kill); session served by %s %v later (%d 5xx before)", inst, served, time.Since(killedAt).Round(time.Millisecond), n5xx)
	d.waitInstanceDown(t, inst)
	for range 6 {
		if st, from := u.me(t); st != http.StatusOK || from == inst {
			t.Fatalf("redis-session after %s is marked down: /api/me = %d from %s", inst, st, from)
		}
	}

	// The lb's own kill of an external instance: POST /_admin/exit.
	victim := "gw1"
	if inst == victim {
		victim = "gw2"
	}
	d.adminKill(t, victim)
	d.waitContainerStopped(t, victim)
	if st, from := u.meUntilNot5xxStatus(t); st != http.StatusOK {
		t.Fatalf("redis-session after %s and %s died: /api/me = %d from %s", inst, victim, st, from)
	}

	// A partition: the last gateway cut off from Redis alone (its store
	// network) answers /readyz 503 on its published port, and 200 again
	// once reconnected.
	last := ""
	for _, gw := range []string{"gw1", "gw2", "gw3"} {
		if gw != inst && gw != victim {
			last = gw
		}
	}
	gwAddr, err := d.Port(ctx, last, 8080)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Disconnect(ctx, last, NetworkStore); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(t, "http://"+gwAddr+"/readyz", http.StatusServiceUnavailable)
	if err := d.Connect(ctx, last, NetworkStore); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(t, "http://"+gwAddr+"/readyz", http.StatusOK)
	if st, from := u.me(t); st != http.StatusOK || from != last {
		t.Fatalf("redis-session after %s reconnected to Redis: /api/me = %d from %s", last, st, from)
	}

	// --- sticky: the sessions of the killed gateway are lost ------------
	d.env["STRATEGY"], d.env["LB_POLICY"] = "sticky", "sticky"
	d.up(t) // recreates the gateways and the lb, starting the dead ones
	t.Logf("up (sticky) after %v", time.Since(began).Round(time.Second))

	// Log users in until two gateways hold sessions; the first user's
	// gateway is the victim.
	var pinned, others []*user
	var target string
	for i := 2; i < 12 && len(others) < 2; i++ {
		su := d.newUser(t, fmt.Sprintf("user%04d", i))
		at := su.login(t)
		if st, from := su.me(t); st != http.StatusOK || from != at {
			t.Fatalf("sticky: /api/me after login on %s = %d from %s; want 200 from the same gateway", at, st, from)
		}
		switch {
		case target == "" || at == target:
			target = at
			pinned = append(pinned, su)
		default:
			others = append(others, su)
		}
	}
	if len(others) == 0 {
		t.Fatalf("sticky: every login landed on %s", target)
	}
	if err := d.Kill(ctx, target); err != nil {
		t.Fatal(err)
	}
	for _, su := range pinned {
		st, from, _ := su.meUntilNot5xx(t)
		if st != http.StatusUnauthorized || from == target {
			t.Fatalf("sticky, %s killed: %s (pinned there) got %d from %s; want 401 (session lost) from another gateway", target, su.name, st, from)
		}
		at := su.login(t)
		if st, from := su.me(t); st != http.StatusOK || from != at || at == target {
			t.Fatalf("sticky: %s logged in again on %s, then /api/me = %d from %s", su.name, at, st, from)
		}
	}
	for _, su := range others {
		if st, from, _ := su.meUntilNot5xx(t); st != http.StatusOK || from == target {
			t.Fatalf("sticky, %s killed: %s (pinned elsewhere) got %d from %s; want 200", target, su.name, st, from)
		}
	}
	t.Logf("sticky: %s killed: %d pinned session(s) lost (401) and logged in again, %d elsewhere kept; total %v",
		target, len(pinned), len(others), time.Since(began).Round(time.Second))
}

// up writes the env file and runs compose up, then waits for a login
// through the lb.
func (d *deployment) up(t *testing.T) {
	t.Helper()
	if err := WriteEnv(d.EnvFile, d.env); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := d.Up(ctx); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	probe := d.newUser(t, "user0020")
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		st, _, err := probe.tryLogin()
		if err == nil && st == http.StatusOK {
			return
		}
		last = fmt.Sprintf("status %d, %v", st, err)
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("no login through the lb %s within 3 minutes of compose up (last: %s)", d.lb, last)
}

// tearDown removes the project (down -v) and checks nothing is left; on
// failure it first logs the services' last lines.
func (d *deployment) tearDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if t.Failed() {
		if logs, err := d.Logs(ctx, 30); err == nil {
			t.Logf("compose logs (last 30 lines per service):\n%s", logs)
		}
	}
	start := time.Now()
	if err := d.Down(ctx, 5*time.Second); err != nil {
		t.Errorf("compose down: %v", err)
	}
	left, err := d.Leftovers(ctx)
	if err != nil {
		t.Errorf("list leftovers: %v", err)
	}
	if len(left) > 0 {
		t.Errorf("compose down -v left behind: %v", left)
	}
	t.Logf("down in %v", time.Since(start).Round(time.Millisecond))
}

// checkLoopbackOnly: every published port is bound to 127.0.0.1, and no
// service of a profile that is off runs.
func (d *deployment) checkLoopbackOnly(t *testing.T) {
	t.Helper()
	ips, err := d.PublishedHostIPs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for svc := range ips {
		if strings.HasPrefix(svc, "redis-node") || strings.HasPrefix(svc, "redis-sentinel") || svc == "haproxy" {
			t.Errorf("service %s runs though its profile is off", svc)
		}
	}
	if len(ips["lb"]) != 2 {
		t.Errorf("lb publishes %v, want its data and admin ports", ips["lb"])
	}
	for svc, list := range ips {
		for _, ip := range list {
			if ip != "127.0.0.1" {
				t.Errorf("service %s publishes a port on %q, want 127.0.0.1 only", svc, ip)
			}
		}
	}
	for _, gw := range []string{"gw1", "gw2", "gw3"} {
		a, err := d.Port(context.Background(), gw, 8080)
		if err != nil || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("%s data port published on %q, %v; want 127.0.0.1:…", gw, a, err)
		}
	}
}

// instance is an entry of the lb's GET /_lb/instances.
type instance struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Healthy bool   `json:"healthy"`
}

func (d *deployment) instances(t *testing.T) []instance {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.lbAdmin+"/_lb/instances", nil)
	req.Header.Set("Authorization", "Bearer "+d.adminToken)
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []instance
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_lb/instances: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitInstanceDown waits until the lb no longer routes to id.
func (d *deployment) waitInstanceDown(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, in := range d.instances(t) {
			if in.ID == id && !in.Healthy {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the lb still routes to %s 30 s after its container was killed: %+v", id, d.instances(t))
}

// waitStatus polls url until it answers want (at most 30 s).
func (d *deployment) waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	got := 0
	for time.Now().Before(deadline) {
		resp, err := d.client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got = resp.StatusCode; got == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %d after 30 s, want %d", url, got, want)
}

// adminKill kills id through the lb's admin API (the instance's own
// POST /_admin/exit).
func (d *deployment) adminKill(t *testing.T, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.lbAdmin+"/_lb/instances/"+id+"/kill?mode=sigkill", nil)
	req.Header.Set("Authorization", "Bearer "+d.adminToken)
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /_lb/instances/%s/kill: %d %s", id, resp.StatusCode, body)
	}
}

func (d *deployment) waitContainerStopped(t *testing.T, service string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		running, err := d.Running(context.Background(), service)
		if err != nil {
			t.Fatal(err)
		}
		if !running {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("container of %s still running 30 s after the lb killed it", service)
}

// user is one client with its own cookie jar (session and lb pin cookies).
type user struct {
	d    *deployment
	name string
	c    *http.Client
}

func (d *deployment) newUser(t *testing.T, name string) *user {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &user{d: d, name: name, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (u *user) tryLogin() (int, string, error) {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, u.name, u.d.seedPassword)
	resp, err := u.c.Post(u.d.lb+"/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Authlab-Instance"), nil
}

// login logs u in and returns the gateway that served it.
func (u *user) login(t *testing.T) string {
	t.Helper()
	st, from, err := u.tryLogin()
	if err != nil || st != http.StatusOK {
		t.Fatalf("login %s: %d, %v", u.name, st, err)
	}
	return from
}

// me sends GET /api/me with u's cookies: status and serving gateway.
func (u *user) me(t *testing.T) (int, string) {
	t.Helper()
	resp, err := u.c.Get(u.d.lb + "/api/me")
	if err != nil {
		t.Fatalf("GET /api/me as %s: %v", u.name, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Authlab-Instance")
}

// meUntilNot5xx repeats /api/me (at most 30 s) while the lb answers 5xx —
// it may, until it sees an instance is gone — and returns the first other
// answer and how many 5xx came before it.
func (u *user) meUntilNot5xx(t *testing.T) (int, string, int) {
	t.Helper()
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, from := u.me(t)
		if st < 500 || time.Now().After(deadline) {
			return st, from, n
		}
		n++
		time.Sleep(50 * time.Millisecond)
	}
}

func (u *user) meUntilNot5xxStatus(t *testing.T) (int, string) {
	st, from, _ := u.meUntilNot5xx(t)
	return st, from
}

func mustID(t *testing.T, d *deployment, service string) string {
	t.Helper()
	id, err := d.ContainerID(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// FreePort returns a loopback address with a port free now, for compose to
// publish on. The port is drawn below the kernel's ephemeral range
// (32768-60999 by default): a port picked by listening on :0 came from that
// range, and between this probe and compose binding it the kernel or
// Docker (which publishes the gateways on ephemeral ports) could hand it
// to someone else, failing the up with "address already in use".
// Exported for the deploy_test package (target_test.go).
func FreePort(t *testing.T) string {
	t.Helper()
	const lo, hi = 20000, 32768
	var last error
	for range 50 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lo+mrand.IntN(hi-lo)))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			last = err
			continue
		}
		l.Close()
		return addr
	}
	t.Fatalf("no free port in [%d, %d) after 50 tries: %v", lo, hi, last)
	return ""
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestComposeRedisFailover runs the gateways (redis-session) on the
// cluster and on the sentinel profile, logs users in through the lb, kills
// a Redis master container (docker kill) and checks every session is
// served again, none lost (they were replicated long before the kill); it
// logs how long that took.
func TestComposeRedisFailover(t *testing.T) {
	tool := needEngine(t)
	ctx := context.Background()
	var buildLog bytes.Buffer
	if err := BuildImages(ctx, repoDir, &buildLog); err != nil {
		t.Fatalf("build images: %v\n%s", err, buildLog.String())
	}
	tests := []struct {
		profile, redisURL, master string
	}{
		// redis-cli --cluster create makes the first three nodes masters.
		{"cluster", "redis+cluster://redis-node-1:6379,redis-node-2:6379,redis-node-3:6379", "redis-node-1"},
		{"sentinel", "redis+sentinel://redis-sentinel-1:26379,redis-sentinel-2:26379,redis-sentinel-3:26379/mymaster", "redis-master"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			began := time.Now()
			lbAddr, adminAddr := FreePort(t), FreePort(t)
			d := &deployment{
				Project: Project{Name: randomName(t), Dir: repoDir, Tool: tool, Profiles: []string{tt.profile},
					EnvFile: filepath.Join(t.TempDir(), "compose.env")},
				lb: "http://" + lbAddr, lbAdmin: "http://" + adminAddr,
				client: &http.Client{Timeout: 10 * time.Second},
			}
			d.env = NewEnv(map[string]string{
				"STRATEGY": "redis-session", "LB_POLICY": "round-robin", "REDIS_URL": tt.redisURL,
				"AUTHLAB_LB_PORT": portOf(lbAddr), "AUTHLAB_LB_ADMIN_PORT": portOf(adminAddr),
				"AUTHLAB_SEED_USERS": "20", "AUTHLAB_BCRYPT_COST": "4", "AUTHLAB_LOG_LEVEL": "warn",
			})
			d.adminToken, d.seedPassword = d.env["AUTHLAB_LB_ADMIN_TOKEN"], d.env["AUTHLAB_SEED_PASSWORD"]
			t.Cleanup(func() { d.tearDown(t) })
			d.up(t)
			t.Logf("up with Redis %s after %v", tt.profile, time.Since(began).Round(time.Second))

			if role, err := d.Exec(ctx, tt.master, "redis-cli", "role"); err != nil || !strings.HasPrefix(role, "master") {
				t.Fatalf("%s: ROLE = %q, %v; want master", tt.master, role, err)
			}
			var users []*user
			for i := 1; i <= 10; i++ {
				u := d.newUser(t, fmt.Sprintf("user%04d", i))
				u.login(t)
				if st, _ := u.me(t); st != http.StatusOK {
					t.Fatalf("%s: /api/me = %d", u.name, st)
				}
				users = append(users, u)
			}
			if err := d.Kill(ctx, tt.master); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			// Every session must be served again; a 401 is a lost session.
			deadline := killed.Add(3 * time.Minute)
			pending := users
			for len(pending) > 0 && time.Now().Before(deadline) {
				var still []*user
				for _, u := range pending {
					st, _ := u.me(t)
					switch {
					case st == http.StatusUnauthorized:
						t.Fatalf("%s: session lost (401) after %s was killed", u.name, tt.master)
					case st != http.StatusOK:
						still = append(still, u)
					}
				}
				pending = still
				if len(pending) > 0 {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if len(pending) > 0 {
				if tt.profile == "sentinel" {
					t.Logf("the sentinel group 3 minutes after the kill:\n%s", sentinelState(ctx, d))
				}
				t.Fatalf("%d of %d sessions not served 3 minutes after %s was killed", len(pending), len(users), tt.master)
			}
			t.Logf("RECOVERY (compose, %s): every session served again %v after docker kill of %s",
				tt.profile, time.Since(killed).Round(time.Millisecond), tt.master)
		})
	}
}

// sentinelState describes a Sentinel group for a failure message: the
// master each sentinel names, each data node's role, and every sentinel's
// event lines (+sdown, +odown, +switch-master, +tilt, …) from its whole
// log, not only the last lines compose logs keeps for the failure.
func sentinelState(ctx context.Context, d *deployment) string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var b strings.Builder
	for _, s := range []string{"redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"} {
		out, err := d.Exec(ctx, s, "redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "mymaster")
		fmt.Fprintf(&b, "%s names master: %q (err %v)\n", s, strings.Join(strings.Fields(out), " "), err)
	}
	for _, s := range []string{"redis-replica-1", "redis-replica-2"} {
		out, err := d.Exec(ctx, s, "redis-cli", "role")
		fmt.Fprintf(&b, "%s ROLE: %q (err %v)\n", s, strings.Join(strings.Fields(out), " "), err)
	}
	for _, s := range []string{"redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3"} {
		id, err := d.ContainerID(ctx, s)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", s, err)
			continue
		}
		out, err := docker(ctx, "logs", id)
		if err != nil {
			fmt.Fprintf(&b, "%s logs: %v\n", s, err)
			continue
		}
		unresolved := 0
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.Contains(line, "Failed to resolve hostname"):
				unresolved++ // one a reconnect attempt: counted, not listed
			case strings.Contains(line, " # ") || strings.Contains(line, " * +"):
				fmt.Fprintf(&b, "%s | %s\n", s, line)
			}
		}
		fmt.Fprintf(&b, "%s: %d \"Failed to resolve hostname\" lines\n", s, unresolved)
	}
	return b.String()
}
