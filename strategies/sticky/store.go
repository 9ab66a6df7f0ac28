package sticky

import (
	"container/heap"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

// ErrFull is returned (wrapping strategies.ErrUnavailable, so the gateway
// answers 503) when a new session would exceed Config.MaxSessions. The store
// refuses new sessions rather than evicting existing ones: eviction would let
// whoever can log in repeatedly push other users' sessions out.
var ErrFull = fmt.Errorf("session store full: %w", strategies.ErrUnavailable)

// errGone: Save of a session that no longer exists (expired or logged out
// between New and Save). The store never re-creates it under the old id,
// which would let a client choose its session id (fixation).
var errGone = errors.New("session no longer exists")

// errUserChanged: Save of an existing session under another user. A new
// user gets a new session (and a new id), never someone else's.
var errUserChanged = errors.New("session user cannot change")

// numShards splits the sessions (by fingerprint) and the per-user index (by
// user name) so that no lock covers the whole table. A power of two.
const numShards = 64

// sweepBatch bounds the heap entries handled per acquisition of a shard's
// lock, so that a mass expiry never holds one shard for long.
const sweepBatch = 256

// key is a session's store key: the raw HMAC-SHA256 fingerprint of its id.
type key [sha256.Size]byte

// entry is one session. Fields are immutable unless said otherwise.
type entry struct {
	key      key
	user     string // the user index's key; a session's user never changes
	created  int64  // Unix nanoseconds
	lastSeen atomic.Int64
	// principal is replaced whole by Save (roles may change), read lock-free.
	principal atomic.Pointer[identity.Principal]
	// dead is set, under the shard lock, once the entry left its shard.
	dead atomic.Bool

	// Guarded by the shard's lock.
	sched int64 // when the expiry heap looks at it again; never after its deadline
	hidx  int   // index in the shard's heap, -1 once removed

	// Guarded by the user shard's lock: the user's sessions, oldest first.
	prev, next *entry
	linked     bool
}

// shard holds a part of the sessions: a map for lookups and a min-heap of
// the same entries ordered by sched, so expired entries are found without
// a scan.
type shard struct {
	mu sync.RWMutex
	m  map[key]*entry
	h  expiryHeap
	_  [64]byte // keep neighbouring shards' locks off one cache line
}

// userList is one user's sessions in creation order.
type userList struct {
	head, tail *entry
	n          int
}

type userShard struct {
	mu sync.Mutex
	m  map[string]*userList
	_  [64]byte
}

// Store is an in-memory gorilla/sessions Store. Sessions are keyed by the
// HMAC fingerprint of their id; the raw id lives only in the client's cookie
// (and transiently in Session.ID). Its methods are safe for concurrent use.
//
// Lookups take one shard's read lock for one map access. Expiry never scans
// the table: each shard keeps an expiry heap, so freeing k expired sessions
// costs O(k·log n) plus one lock per shard, and a sweep holds one shard's
// lock at a time, for at most sweepBatch entries. The idle timer is an
// atomic refreshed by lookups; the heap learns of it lazily (an entry whose
// heap time has come but that was used since is re-filed under its new
// deadline, at most once per idle period).
//
// Lock order: a user shard before a session shard, never the other way.
type Store struct {
	fp      strategies.Fingerprinter
	now     func() time.Time
	ttl     int64 // nanoseconds
	idle    int64 // nanoseconds, 0: no idle timeout
	max     int64
	perUser int
	secure  bool
	options sessions.Options
	seed    maphash.Seed

	count  atomic.Int64 // sessions held (expired ones not yet swept included)
	shards [numShards]shard
	users  [numShards]userShard
}

var _ sessions.Store = (*Store)(nil)

func newStore(cfg Config, fp strategies.Fingerprinter) *Store {
	s := &Store{
		fp:      fp,
		now:     cfg.Now,
		ttl:     int64(cfg.TTL),
		idle:    int64(cfg.IdleTTL),
		max:     int64(cfg.MaxSessions),
		perUser: cfg.MaxSessionsPerUser,
		secure:  cfg.Secure,
		options: sessionutil.StoreOptions(int(cfg.TTL/time.Second), cfg.Secure),
		seed:    maphash.MakeSeed(),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[key]*entry)
		s.users[i].m = make(map[string]*userList)
	}
	return s
}

// Get implements sessions.Store: the session of r's cookie name, cached in
// the request's registry.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New implements sessions.Store. It returns the live session named by r's
// cookie, or a new empty session (IsNew, no ID) when the cookie is absent,
// unknown, expired or malformed; a malformed cookie also yields an error
// wrapping strategies.ErrInvalidCredential. It never returns a nil session.
// With Config.Secure the cookie read is name with the __Host- prefix.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := sessions.NewSession(s, name)
	opts := s.options
	session.Options = &opts
	session.IsNew = true
	c, err := r.Cookie(strategies.SessionCookieName(name, s.secure))
	if err != nil {
		return session, nil
	}
	if !sessionutil.ValidID(c.Value) {
		return session, fmt.Errorf("sticky: malformed session cookie: %w", strategies.ErrInvalidCredential)
	}
	p, ok := s.lookup(c.Value)
	if !ok {
		return session, nil
	}
	session.ID = c.Value
	session.Values[sessionutil.KeyUser] = p.User
	session.Values[sessionutil.KeyRoles] = p.Roles // lookup returned a copy
	session.IsNew = false
	return session, nil
}

// Save implements sessions.Store. MaxAge < 0 deletes the session. A session
// without ID gets a fresh random one (the only way ids are made); a session
// with an ID must still exist and keep its user. The values must hold a
// principal. The cookie written has the __Host- prefix, Secure, Path=/ and
// no Domain when the store is Secure.
func (s *Store) Save(_ *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	opts := session.Options
	if opts == nil {
		opts = &s.options
	}
	if opts.MaxAge < 0 {
		if session.ID != "" {
			s.remove(session.ID)
		}
		http.SetCookie(w, sessionutil.StoreCookie(session.Name(), "", opts, s.secure))
		return nil
	}
	p, err := sessionutil.PrincipalFrom(session.Values)
	if err != nil {
		return fmt.Errorf("sticky: save: %w", err)
	}
	if session.ID == "" {
		id, err := sessionutil.NewID()
		if err != nil {
			return fmt.Errorf("sticky: %w", err)
		}
		if err := s.insert(id, p); err != nil {
			return err
		}
		session.ID = id
	} else if err := s.update(session.ID, p); err != nil {
		return err
	}
	http.SetCookie(w, sessionutil.StoreCookie(session.Name(), session.ID, opts, s.secure))
	return nil
}

// Len returns the number of sessions held, expired ones not yet swept
// included.
func (s *Store) Len() int { return int(s.count.Load()) }

// Sweep deletes expired sessions and returns how many it deleted. It takes
// one shard's lock at a time and only pops that shard's expired entries
// from its heap: it never walks the table.
func (s *Store) Sweep() int { return s.collect(s.now().UnixNano()) }

func (s *Store) key(id string) key {
	fp := s.fp.Sum(id) // 64 lowercase hex digits
	var k key
	for i := range k {
		k[i] = unhex(fp[2*i])<<4 | unhex(fp[2*i+1])
	}
	return k
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func (s *Store) shardOf(k key) *shard { return &s.shards[k[0]%numShards] }

func (s *Store) userShardOf(user string) *userShard {
	return &s.users[maphash.String(s.seed, user)%numShards]
}

// deadline is when e expires (Unix nanoseconds): the absolute lifetime, or
// earlier the idle timeout since its last use.
func (s *Store) deadline(e *entry) int64 {
	d := e.created + s.ttl
	if s.idle > 0 {
		d = min(d, e.lastSeen.Load()+s.idle)
	}
	return d
}

// lookup returns a copy of the principal of live session id and refreshes
// its idle timer: one fingerprint, one shard read lock, one map access.
func (s *Store) lookup(id string) (identity.Principal, bool) {
	k := s.key(id)
	sh := s.shardOf(k)
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	if e == nil {
		return identity.Principal{}, false
	}
	now := s.now().UnixNano()
	if now >= s.deadline(e) {
		s.drop(e)
		return identity.Principal{}, false
	}
	for s.idle > 0 { // slide the idle timer, never backwards
		old := e.lastSeen.Load()
		if now <= old || e.lastSeen.CompareAndSwap(old, now) {
			break
		}
	}
	return e.principal.Load().Clone(), true
}

// insert stores a new session id for p. It first frees expired sessions
// when the store is full, then, under p.User's index lock and only when
// the user is at MaxSessionsPerUser, drops that user's dead or expired
// sessions and evicts their oldest live ones down to MaxSessionsPerUser-1,
// and finally takes a global slot or fails with ErrFull. (When the store is full and the user at their cap, the evicted
// session's slot is normally the one taken; a concurrent login may win it,
// and this login then fails with ErrFull.)
func (s *Store) insert(id string, p identity.Principal) error {
	now := s.now().UnixNano()
	e := &entry{key: s.key(id), user: p.User, created: now, hidx: -1}
	e.lastSeen.Store(now)
	cp := p.Clone()
	e.principal.Store(&cp)
	if s.count.Load() >= s.max {
		s.collect(now)
	}

	us := s.userShardOf(p.User)
	us.mu.Lock()
	defer us.mu.Unlock()
	if l := us.m[p.User]; l != nil && l.n >= s.perUser {
		// At the cap: expired (not yet swept) sessions go first, so that
		// they never cost the user a live one; then the oldest live ones.
		for x := l.head; x != nil; {
			next := x.next
			if x.dead.Load() || now >= s.deadline(x) {
				s.removeFromShard(x)
				s.unlinkLocked(us, x)
			}
			x = next
		}
		for l := us.m[p.User]; l != nil && l.n >= s.perUser; l = us.m[p.User] {
			oldest := l.head
			s.removeFromShard(oldest)
			s.unlinkLocked(us, oldest)
		}
	}
	if err := s.add(e); err != nil {
		return err
	}
	l := us.m[p.User]
	if l == nil {
		l = &userList{}
		us.m[p.User] = l
	}
	e.prev, e.linked = l.tail, true
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
	return nil
}

// add files e in its shard, taking one global slot.
func (s *Store) add(e *entry) error {
	sh := s.shardOf(e.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, dup := sh.m[e.key]; dup { // 2^-256; refuse rather than overwrite
		return errors.New("sticky: session id collision")
	}
	if n := s.count.Add(1); n > s.max {
		s.count.Add(-1)
		return fmt.Errorf("sticky: %d sessions: %w", n-1, ErrFull)
	}
	sh.m[e.key] = e
	e.sched = s.deadline(e)
	heap.Push(&sh.h, e)
	return nil
}

// update replaces the principal of live session id (same user only).
func (s *Store) update(id string, p identity.Principal) error {
	k := s.key(id)
	sh := s.shardOf(k)
	sh.mu.RLock()
	e := sh.m[k]
	sh.mu.RUnlock()
	if e == nil || s.now().UnixNano() >= s.deadline(e) {
		return fmt.Errorf("sticky: save: %w", errGone)
	}
	if p.User != e.user {
		return fmt.Errorf("sticky: save: %w", errUserChanged)
	}
	cp := p.Clone()
	e.principal.Store(&cp)
	return nil
}

// remove deletes session id, if held.
func (s *Store) remove(id string) {
	k := s.key(id)
	sh := s.shardOf(k)
	sh.mu.Lock()
	e := sh.m[k]
	ok := e != nil && s.removeLocked(sh, e)
	sh.mu.Unlock()
	if ok {
		s.unlink(e)
	}
}

// drop deletes e from its shard and from its user's list, unless another
// path removed it first (that path unlinks it).
func (s *Store) drop(e *entry) {
	if s.removeFromShard(e) {
		s.unlink(e)
	}
}

func (s *Store) removeFromShard(e *entry) bool {
	sh := s.shardOf(e.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.removeLocked(sh, e)
}

// removeLocked deletes e from sh (whose lock is held) and reports whether
// it was still there.
func (s *Store) removeLocked(sh *shard, e *entry) bool {
	if e.hidx < 0 {
		return false
	}
	delete(sh.m, e.key)
	heap.Remove(&sh.h, e.hidx)
	e.dead.Store(true)
	s.count.Add(-1)
	return true
}

func (s *Store) unlink(e *entry) {
	us := s.userShardOf(e.user)
	us.mu.Lock()
	s.unlinkLocked(us, e)
	us.mu.Unlock()
}

// unlinkLocked takes e off its user's list (us's lock is held).
func (*Store) unlinkLocked(us *userShard, e *entry) {
	if !e.linked {
		return
	}
	l := us.m[e.user]
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next, e.linked = nil, nil, false
	if l.n--; l.n == 0 {
		delete(us.m, e.user)
	}
}

// collect frees the sessions expired at now, shard by shard, and returns
// how many it freed.
func (s *Store) collect(now int64) int {
	n := 0
	var dead []*entry
	for i := range s.shards {
		for more := true; more; {
			dead, more = s.popExpired(&s.shards[i], now, dead[:0])
			for _, e := range dead {
				s.unlink(e)
			}
			n += len(dead)
		}
	}
	return n
}

// popExpired removes up to sweepBatch heap heads of sh due at now, appending
// the expired ones to dead; heads used since they were filed go back in the
// heap under their new deadline. more reports that due heads remain.
func (s *Store) popExpired(sh *shard, now int64, dead []*entry) (_ []*entry, more bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := 0; len(sh.h) > 0 && sh.h[0].sched <= now; i++ {
		if i == sweepBatch {
			return dead, true
		}
		e := sh.h[0]
		if d := s.deadline(e); d > now {
			e.sched = d
			heap.Fix(&sh.h, 0)
			continue
		}
		s.removeLocked(sh, e)
		dead = append(dead, e)
	}
	return dead, false
}

// expiryHeap is a min-heap of entries by sched (container/heap).
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].sched < h[j].sched }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.hidx = -1
	*h = old[:len(old)-1]
	return e
}
