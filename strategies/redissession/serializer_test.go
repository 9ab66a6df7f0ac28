package redissession

import (
	"errors"
	"slices"
	"testing"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies/internal/sessionutil"
)

func newSession(p identity.Principal) *sessions.Session {
	s := sessions.NewSession(nil, "authlab_session")
	sessionutil.SetPrincipal(s.Values, p)
	s.Values[sessionutil.KeyExpires] = int64(1767225600000)
	return s
}

func TestJSONSerializerRoundTrip(t *testing.T) {
	for _, p := range []identity.Principal{
		{User: "alice", Roles: []string{"user"}},
		{User: "root", Roles: []string{"admin", "user"}},
		{User: "nobody"},
		{User: `quote"and\backslash ünï`, Roles: []string{""}},
	} {
		b, err := JSONSerializer{}.Serialize(newSession(p))
		if err != nil {
			t.Fatalf("Serialize(%+v): %v", p, err)
		}
		out := sessions.NewSession(nil, "x")
		if err := (JSONSerializer{}).Deserialize(b, out); err != nil {
			t.Fatalf("Deserialize(%s): %v", b, err)
		}
		got, err := sessionutil.PrincipalFrom(out.Values)
		if err != nil || got.User != p.User || !slices.Equal(got.Roles, p.Roles) {
			t.Fatalf("round trip %+v -> %s -> %+v, %v", p, b, got, err)
		}
		if x := out.Values[sessionutil.KeyExpires]; x != int64(1767225600000) {
			t.Fatalf("round trip lost the absolute expiry: %v (%T)", x, x)
		}
	}
}

func TestJSONSerializerRejects(t *testing.T) {
	tests := map[string]map[any]any{
		"unknown key":  {sessionutil.KeyUser: "a", sessionutil.KeyExpires: int64(1), "extra": 1},
		"non-str key":  {sessionutil.KeyUser: "a", sessionutil.KeyExpires: int64(1), 7: "x"},
		"user type":    {sessionutil.KeyUser: 1, sessionutil.KeyExpires: int64(1)},
		"roles type":   {sessionutil.KeyUser: "a", sessionutil.KeyRoles: "admin", sessionutil.KeyExpires: int64(1)},
		"missing user": {sessionutil.KeyRoles: []string{"admin"}, sessionutil.KeyExpires: int64(1)},
		"no expiry":    {sessionutil.KeyUser: "a"},
		"expiry type":  {sessionutil.KeyUser: "a", sessionutil.KeyExpires: 1},
	}
	for name, v := range tests {
		s := sessions.NewSession(nil, "x")
		s.Values = v
		if _, err := (JSONSerializer{}).Serialize(s); !errors.Is(err, sessionutil.ErrCorruptSession) {
			t.Errorf("%s: Serialize(%v) err = %v, want ErrCorruptSession", name, v, err)
		}
	}
	for name, b := range map[string]string{
		"empty": "", "garbage": "\x00\x01", "no user": `{"r":["x"],"x":1}`, "array": `[1]`, "user number": `{"u":1,"x":1}`,
		"no expiry": `{"u":"a"}`, "zero expiry": `{"u":"a","x":0}`, "expiry string": `{"u":"a","x":"1"}`,
	} {
		if err := (JSONSerializer{}).Deserialize([]byte(b), sessions.NewSession(nil, "x")); !errors.Is(err, sessionutil.ErrCorruptSession) {
			t.Errorf("%s: Deserialize err = %v, want ErrCorruptSession", name, err)
		}
	}
}

// BenchmarkDecode compares redisstore's default gob serializer with
// JSONSerializer on the value every authenticated request decodes.
func BenchmarkDecode(b *testing.B) {
	src := newSession(identity.Principal{User: "alice", Roles: []string{"user"}})
	for _, tc := range []struct {
		name string
		ser  redisstore.SessionSerializer
	}{
		{"gob", redisstore.GobSerializer{}},
		{"json", JSONSerializer{}},
	} {
		data, err := tc.ser.Serialize(src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := sessions.NewSession(nil, "x")
				if err := tc.ser.Deserialize(data, s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "stored-bytes")
		})
	}
}
