package loginlimit

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"
)

// maxExpirePerCall bounds how many expired accounts one call drops, so no
// request ever walks the whole table under the lock.
const maxExpirePerCall = 16

// Memory counts attempts in this process only: each gateway instance
// throttles on its own (an attacker spreading guesses over N instances gets
// N times the budget). Use Redis where instances share one.
type Memory struct {
	cfg Config

	mu    sync.Mutex
	items map[string]*list.Element
	ll    *list.List // front: the account whose count expires first
}

type account struct {
	key         string
	n           int64
	lockedUntil time.Time
	expires     time.Time
}

// NewMemory returns an in-memory limiter.
func NewMemory(cfg Config) (*Memory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Memory{cfg: cfg.withDefaults(), items: make(map[string]*list.Element), ll: list.New()}, nil
}

// Attempt implements the gateway's LoginLimiter: it returns 0 when the
// attempt may proceed (and counts it), or how long the account stays locked.
func (m *Memory) Attempt(_ context.Context, user string) (time.Duration, error) {
	key := strings.ToLower(user)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked(now)
	var a *account
	if el, ok := m.items[key]; ok {
		a = el.Value.(*account)
		if !now.Before(a.expires) {
			a.n, a.lockedUntil = 0, time.Time{}
		}
		if now.Before(a.lockedUntil) {
			return a.lockedUntil.Sub(now), nil
		}
		m.ll.MoveToBack(el)
	} else {
		if m.ll.Len() >= m.cfg.MaxAccounts {
			m.removeLocked(m.ll.Front())
		}
		a = &account{key: key}
		m.items[key] = m.ll.PushBack(a)
	}
	a.n++
	a.expires = now.Add(m.cfg.Window)
	if d := m.cfg.delay(a.n); d > 0 {
		a.lockedUntil = now.Add(d)
	}
	return 0, nil
}

// Reset implements the gateway's LoginLimiter: it forgets user's count.
func (m *Memory) Reset(_ context.Context, user string) error {
	key := strings.ToLower(user)
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[key]; ok {
		m.removeLocked(el)
	}
	return nil
}

// Len returns the number of accounts tracked.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ll.Len()
}

// expireLocked drops a few accounts whose count expired. Every attempt
// moves its account to the back with the same Window, so the list is
// ordered by expiry and only its front needs looking at.
func (m *Memory) expireLocked(now time.Time) {
	for range maxExpirePerCall {
		el := m.ll.Front()
		if el == nil || now.Before(el.Value.(*account).expires) {
			return
		}
		m.removeLocked(el)
	}
}

func (m *Memory) removeLocked(el *list.Element) {
	m.ll.Remove(el)
	delete(m.items, el.Value.(*account).key)
}
