package jwtauth

import (
	"context"
	"testing"

	"github.com/authlab/authlab/internal/redisx/redistest"
)

func BenchmarkAuthenticate(b *testing.B) {
	srv := redistest.Start(b)
	client := redistest.Client(b, srv)
	cases := []struct {
		name string
		cfg  Config
	}{
		{"HS256", baseConfig(AlgHS256, nil)},
		{"EdDSA", baseConfig(AlgEdDSA, nil)},
		{"HS256-denylist", withRedis(baseConfig(AlgHS256, nil), client, true)},
		{"EdDSA-denylist", withRedis(baseConfig(AlgEdDSA, nil), client, true)},
	}
	ctx := context.Background()
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s := mustNew(b, bc.cfg)
			tok := mustLogin(b, s, alice).Token
			b.SetBytes(int64(len(tok)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Authenticate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLogin(b *testing.B) {
	srv := redistest.Start(b)
	client := redistest.Client(b, srv)
	cases := []struct {
		name string
		cfg  Config
	}{
		{"HS256", baseConfig(AlgHS256, nil)},
		{"EdDSA", baseConfig(AlgEdDSA, nil)},
		{"HS256-refresh", withRedis(baseConfig(AlgHS256, nil), client, false)},
	}
	ctx := context.Background()
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s := mustNew(b, bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Login(ctx, alice); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRefresh(b *testing.B) {
	srv := redistest.Start(b)
	s := mustNew(b, withRedis(baseConfig(AlgHS256, nil), redistest.Client(b, srv), false))
	ctx := context.Background()
	rt := mustLogin(b, s, alice).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		c, _, err := s.Refresh(ctx, rt)
		if err != nil {
			b.Fatal(err)
		}
		rt = c.RefreshToken
	}
}
