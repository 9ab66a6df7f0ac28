package topology

import "github.com/authlab/authlab/internal/secret"

// Secrets are the values the processes of one topology share, generated
// fresh for it. They reach a process through its environment only (argv is
// readable by every user of the machine), and each process gets only the
// ones it needs.
type Secrets struct {
	// AdminToken guards the lb's admin API (/_lb/*).
	AdminToken string
	// InstanceAdminToken guards the gateways' /_admin/*; it differs from
	// AdminToken.
	InstanceAdminToken string
	// Password of every seeded user; AdminPassword of user admin.
	Password, AdminPassword string
	// AssertionKey signs the gateway → backend identity assertion.
	AssertionKey string
	// FingerprintKey, JWTSecret and JWTSeed are the keys every gateway
	// must share.
	FingerprintKey, JWTSecret, JWTSeed string
	// CookieKey signs the lb's sticky cookie.
	CookieKey string
}

// NewSecrets returns fresh random secrets.
func NewSecrets() Secrets {
	return Secrets{
		AdminToken:         secret.Random(),
		InstanceAdminToken: secret.Random(),
		Password:           secret.Random()[:16],
		AdminPassword:      secret.Random()[:16],
		AssertionKey:       secret.Random(),
		FingerprintKey:     secret.Random(),
		JWTSecret:          secret.Random(),
		JWTSeed:            secret.Random(),
		CookieKey:          secret.Random(),
	}
}

// authEnv: the seeded users' passwords.
func (s Secrets) authEnv() []string {
	return []string{"AUTHLAB_SEED_PASSWORD=" + s.Password, "AUTHLAB_ADMIN_PASSWORD=" + s.AdminPassword}
}

// backendEnv: the assertion key, to verify the gateways' assertions.
func (s Secrets) backendEnv() []string {
	return []string{"AUTHLAB_ASSERTION_KEY=" + s.AssertionKey}
}

// gatewayKeys are the keys every gateway must share.
func (s Secrets) gatewayKeys() []string {
	return []string{
		"AUTHLAB_ASSERTION_KEY=" + s.AssertionKey,
		"AUTHLAB_FINGERPRINT_KEY=" + s.FingerprintKey,
		"AUTHLAB_JWT_SECRET=" + s.JWTSecret,
		"AUTHLAB_JWT_ED25519_SEED=" + s.JWTSeed,
	}
}

// gatewayEnv: a gateway started on its own (not by an lb) gets the shared
// keys and the instance admin token as its own admin token.
func (s Secrets) gatewayEnv() []string {
	return append(s.gatewayKeys(), "AUTHLAB_ADMIN_TOKEN="+s.InstanceAdminToken)
}

// lbEnv: the lb keeps its own token and cookie key, and hands the gateways
// it starts the instance token (as their AUTHLAB_ADMIN_TOKEN) and, when it
// starts any, the shared keys.
func (s Secrets) lbEnv(startsGateways bool) []string {
	env := []string{
		"AUTHLAB_ADMIN_TOKEN=" + s.AdminToken,
		"AUTHLAB_INSTANCE_ADMIN_TOKEN=" + s.InstanceAdminToken,
		"AUTHLAB_COOKIE_KEY=" + s.CookieKey,
	}
	if startsGateways {
		env = append(env, s.gatewayKeys()...)
	}
	return env
}
