// Package deploy drives the docker compose deployment of the repository's
// docker-compose.yml: it builds the images (deploy/build-images.sh), brings
// a project up and down with whichever of `docker compose` (v2) and
// `docker-compose` (v1) the machine has, and acts on its containers the way
// failure experiments need — SIGKILL a service's container, start it again,
// cut it off a network and reconnect it, find the loopback port a service
// is published on, and list what a project left behind.
//
// Containers, networks and volumes are found by the labels both compose
// versions put on them (com.docker.compose.project, .service, .network),
// never by name, so these work on a project this process did not start and
// need none of its secrets.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Networks of docker-compose.yml.
const (
	// NetworkEdge joins the lb (or HAProxy) and the gateways.
	NetworkEdge = "edge"
	// NetworkServices joins the gateways, auth and backend.
	NetworkServices = "services"
	// NetworkStore joins the gateways and Redis: disconnect a gateway from
	// it to cut it off from Redis alone.
	NetworkStore = "store"
)

// Profiles of docker-compose.yml.
var Profiles = []string{"haproxy", "cluster", "sentinel"}

// Secrets are the variables docker-compose.yml requires (compose refuses
// to start without each).
var Secrets = []string{
	"AUTHLAB_LB_ADMIN_TOKEN", "AUTHLAB_GATEWAY_ADMIN_TOKEN", "AUTHLAB_LB_COOKIE_KEY",
	"AUTHLAB_ASSERTION_KEY", "AUTHLAB_FINGERPRINT_KEY", "AUTHLAB_JWT_SECRET",
	"AUTHLAB_JWT_ED25519_SEED", "AUTHLAB_SEED_PASSWORD", "AUTHLAB_ADMIN_PASSWORD",
}

// ErrNoEngine is returned (wrapped) when no Docker engine answers.
var ErrNoEngine = errors.New("no Docker engine answers")

// ErrNoCompose is returned (wrapped) when neither compose tool exists.
var ErrNoCompose = errors.New("neither 'docker compose' nor 'docker-compose' is installed")

// ErrNoContainer is returned (wrapped) when a service has no container.
var ErrNoContainer = errors.New("no container")

// EngineAvailable reports whether a Docker engine answers (docker info).
func EngineAvailable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: docker not installed", ErrNoEngine)
	}
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: docker info: %v: %s", ErrNoEngine, err, firstLine(out))
	}
	return nil
}

// Tool is a compose command line: ["docker", "compose"] or
// ["docker-compose"].
type Tool []string

// FindTool returns `docker compose` when the v2 plugin answers, else
// `docker-compose` when installed.
func FindTool(ctx context.Context) (Tool, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, "docker", "compose", "version").Run(); err == nil {
		return Tool{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		if err := exec.CommandContext(ctx, p, "version").Run(); err == nil {
			return Tool{p}, nil
		}
	}
	return nil, ErrNoCompose
}

// String is the command as a person would type it.
func (t Tool) String() string {
	if len(t) == 1 {
		return filepath.Base(t[0])
	}
	return strings.Join(t, " ")
}

// BuildImages runs deploy/build-images.sh of the repository at repoDir
// (what make compose-images runs), its output to out.
func BuildImages(ctx context.Context, repoDir string, out io.Writer) error {
	dir, err := filepath.Abs(repoDir)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(dir, "deploy", "build-images.sh"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("deploy/build-images.sh: %w", err)
	}
	return nil
}

// projectName is what compose accepts as a project name.
var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Project is one compose project of docker-compose.yml.
type Project struct {
	// Name is the compose project name (lower case letters, digits, - and _).
	Name string
	// Dir is the repository root, holding docker-compose.yml.
	Dir string
	// EnvFile holds the variables (see .env.example); needed by Up, Config
	// and Logs (compose reads the whole file), not by the container
	// operations. Variables it sets are removed from the compose tool's
	// environment, so the file alone decides.
	EnvFile string
	// Profiles to enable on Up (see Profiles).
	Profiles []string
	// Tool is the compose command (FindTool).
	Tool Tool
	// Output receives the compose tool's output on Up and Down (nil:
	// discarded; it is in the error when they fail).
	Output io.Writer
}

// Validate reports a problem with p.
func (p Project) Validate() error {
	switch {
	case !projectName.MatchString(p.Name):
		return fmt.Errorf("deploy: project name %q: lower case letters, digits, - and _", p.Name)
	case p.Dir == "":
		return errors.New("deploy: no repository directory")
	case len(p.Tool) == 0:
		return errors.New("deploy: no compose tool")
	}
	for _, pr := range p.Profiles {
		if !slices.Contains(Profiles, pr) {
			return fmt.Errorf("deploy: unknown profile %q (known: %s)", pr, strings.Join(Profiles, ", "))
		}
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "docker-compose.yml")); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

// compose runs the compose tool with args after the project options.
func (p Project) compose(ctx context.Context, out io.Writer, args ...string) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(p.Dir)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	argv := append(append([]string{}, p.Tool[1:]...), "-p", p.Name, "-f", filepath.Join(dir, "docker-compose.yml"))
	env := os.Environ()
	if p.EnvFile != "" {
		envFile, err := filepath.Abs(p.EnvFile)
		if err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
		argv = append(argv, "--env-file", envFile)
		vars, err := ReadEnv(envFile)
		if err != nil {
			return nil, err
		}
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			_, set := vars[k]
			return set
		})
	}
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, p.Tool[0], argv...)
	cmd.Dir, cmd.Env = dir, env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if out != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, out), io.MultiWriter(&buf, out)
	}
	if err := cmd.Run(); err != nil {
		return buf.Bytes(), fmt.Errorf("%s %s: %w: %s", p.Tool, strings.Join(args, " "), err, lastLines(buf.String(), 8))
	}
	return buf.Bytes(), nil
}

func (p Project) profileArgs(all bool) []string {
	prs := p.Profiles
	if all {
		prs = Profiles
	}
	var out []string
	for _, pr := range prs {
		out = append(out, "--profile", pr)
	}
	return out
}

// Config runs `compose config -q`: nil when compose accepts the file with
// p's variables, else its complaint.
func (p Project) Config(ctx context.Context) error {
	_, err := p.compose(ctx, nil, append(p.profileArgs(false), "config", "-q")...)
	return err
}

// Services lists the services compose would run with p's profiles.
func (p Project) Services(ctx context.Context) ([]string, error) {
	out, err := p.compose(ctx, nil, append(p.profileArgs(false), "config", "--services")...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// Up runs `compose up -d` with p's profiles (for the given services, or
// all). It returns once the containers are started (compose waits for the
// dependencies' health checks, not for the last services' own).
func (p Project) Up(ctx context.Context, services ...string) error {
	_, err := p.compose(ctx, p.Output, append(append(p.profileArgs(false), "up", "-d"), services...)...)
	return err
}

// Down removes every container, network and volume of the project,
// whatever profiles it was started with, stopping containers with a
// grace of stopTimeout.
func (p Project) Down(ctx context.Context, stopTimeout time.Duration) error {
	_, err := p.compose(ctx, p.Output, append(p.profileArgs(true), "down", "-v", "--remove-orphans",
		"-t", fmt.Sprint(int(stopTimeout.Seconds())))...)
	return err
}

// Logs returns the last tail lines of every service's log.
func (p Project) Logs(ctx context.Context, tail int) (string, error) {
	out, err := p.compose(ctx, nil, append(p.profileArgs(true), "logs", "--no-color", "--tail", fmt.Sprint(tail))...)
	return string(out), err
}

// docker runs the docker CLI and returns its trimmed output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 4))
	}
	return strings.TrimSpace(string(out)), nil
}

func (p Project) label() string { return "label=com.docker.compose.project=" + p.Name }

// ContainerID returns the id of service's container (running or not).
func (p Project) ContainerID(ctx context.Context, service string) (string, error) {
	out, err := docker(ctx, "ps", "-aq", "--filter", p.label(), "--filter", "label=com.docker.compose.service="+service)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("deploy: service %s of project %s: %w", service, p.Name, ErrNoContainer)
	case 1:
		return ids[0], nil
	default:
		return "", fmt.Errorf("deploy: service %s of project %s has %d containers (scaled?)", service, p.Name, len(ids))
	}
}

// Kill SIGKILLs service's container (docker kill): a crash nobody
// announced — no drain, memory gone. The container stays, stopped; Start
// brings it back.
func (p Project) Kill(ctx context.Context, service string) error {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "kill", "--signal", "KILL", id)
	return err
}

// Start starts service's stopped container again (docker start).
func (p Project) Start(ctx context.Context, service string) error {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "start", id)
	return err
}

// Running reports whether service's container is running.
func (p Project) Running(ctx context.Context, service string) (bool, error) {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return false, err
	}
	out, err := docker(ctx, "inspect", "-f", "{{.State.Running}}", id)
	return out == "true", err
}

// Exec runs argv in service's running container (docker exec) and returns
// its output: for example redis-cli in a Redis container, to ask a
// sentinel which node is the master
// (redis-cli -p 26379 sentinel get-master-addr-by-name mymaster answers
// with the node's fixed address on the store network; ServiceAt names it).
func (p Project) Exec(ctx context.Context, service string, argv ...string) (string, error) {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return "", err
	}
	return docker(ctx, append([]string{"exec", id}, argv...)...)
}

// ServiceAt returns the service whose container has ip on one of the
// project's networks (Redis Cluster nodes announce their IP, not their
// name).
func (p Project) ServiceAt(ctx context.Context, ip string) (string, error) {
	out, err := docker(ctx, "ps", "-q", "--filter", p.label())
	if err != nil {
		return "", err
	}
	for _, id := range strings.Fields(out) {
		s, err := docker(ctx, "inspect", "-f",
			`{{index .Config.Labels "com.docker.compose.service"}}{{range .NetworkSettings.Networks}} {{.IPAddress}}{{end}}`, id)
		if err != nil {
			return "", err
		}
		f := strings.Fields(s)
		if len(f) > 1 && slices.Contains(f[1:], ip) {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("deploy: no running container of project %s has address %s: %w", p.Name, ip, ErrNoContainer)
}

// NetworkID returns the id of the project's network called name in
// docker-compose.yml (NetworkEdge, NetworkServices, NetworkStore).
func (p Project) NetworkID(ctx context.Context, name string) (string, error) {
	out, err := docker(ctx, "network", "ls", "-q", "--filter", p.label(), "--filter", "label=com.docker.compose.network="+name)
	if err != nil {
		return "", err
	}
	ids := strings.Fields(out)
	if len(ids) != 1 {
		return "", fmt.Errorf("deploy: project %s has %d networks called %s", p.Name, len(ids), name)
	}
	return ids[0], nil
}

// Disconnect cuts service's container off the network (a partition: its
// peers there stop resolving and reaching it, and it them).
func (p Project) Disconnect(ctx context.Context, service, network string) error {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return err
	}
	nid, err := p.NetworkID(ctx, network)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "network", "disconnect", "--force", nid, id)
	return err
}

// Connect joins service's container to the network again, under its
// service name (what its peers resolve).
func (p Project) Connect(ctx context.Context, service, network string) error {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return err
	}
	nid, err := p.NetworkID(ctx, network)
	if err != nil {
		return err
	}
	_, err = docker(ctx, "network", "connect", "--alias", service, nid, id)
	return err
}

// Port returns the host address ("127.0.0.1:32768") that service's
// container port (tcp) is published on.
func (p Project) Port(ctx context.Context, service string, port int) (string, error) {
	id, err := p.ContainerID(ctx, service)
	if err != nil {
		return "", err
	}
	out, err := docker(ctx, "port", id, fmt.Sprintf("%d/tcp", port))
	if err != nil {
		return "", err
	}
	// One line per binding; the IPv4 one first.
	return firstLine([]byte(out)), nil
}

// PublishedHostIPs returns, per container of the project, the host
// addresses its ports are published on (empty string: every interface).
func (p Project) PublishedHostIPs(ctx context.Context) (map[string][]string, error) {
	out, err := docker(ctx, "ps", "-aq", "--filter", p.label())
	if err != nil {
		return nil, err
	}
	res := map[string][]string{}
	for _, id := range strings.Fields(out) {
		s, err := docker(ctx, "inspect", "-f",
			`{{index .Config.Labels "com.docker.compose.service"}}{{range $p, $b := .HostConfig.PortBindings}}{{range $b}} ip={{.HostIP}}{{end}}{{end}}`, id)
		if err != nil {
			return nil, err
		}
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		for _, b := range f[1:] {
			res[f[0]] = append(res[f[0]], strings.TrimPrefix(b, "ip="))
		}
		if len(f) == 1 {
			res[f[0]] = nil
		}
	}
	return res, nil
}

// Leftovers lists the containers, networks and volumes still labelled
// with the project ("container <id>", …): none after Down.
func (p Project) Leftovers(ctx context.Context) ([]string, error) {
	var left []string
	for _, q := range []struct {
		kind string
		args []string
	}{
		{"container", []string{"ps", "-aq"}},
		{"network", []string{"network", "ls", "-q"}},
		{"volume", []string{"volume", "ls", "-q"}},
	} {
		out, err := docker(ctx, append(q.args, "--filter", p.label())...)
		if err != nil {
			return nil, err
		}
		for _, id := range strings.Fields(out) {
			left = append(left, q.kind+" "+id)
		}
	}
	return left, nil
}

// NewEnv returns the variables of a deployment: every secret random (32
// bytes, base64: long enough for each, and the exact size of the Ed25519
// seed), then overrides.
func NewEnv(overrides map[string]string) map[string]string {
	env := map[string]string{}
	for _, s := range Secrets {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		env[s] = base64.StdEncoding.EncodeToString(b)
	}
	for k, v := range overrides {
		env[k] = v
	}
	return env
}

// WriteEnv writes vars as a compose env file at path, mode 0600.
func WriteEnv(path string, vars map[string]string) error {
	keys := make([]string, 0, len(vars))
	for k, v := range vars {
		if strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
			return fmt.Errorf("deploy: env var %q: no newline, no = in the name", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, vars[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// ReadEnv reads a compose env file (KEY=VALUE lines; # comments).
func ReadEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("deploy: env file: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		vars[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("deploy: env file: %w", err)
	}
	return vars, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
