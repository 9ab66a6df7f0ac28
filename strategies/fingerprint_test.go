package strategies

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
)

func TestFingerprinterMatchesHMAC(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f := NewFingerprinter(key)
	other := NewFingerprinter([]byte("another-key-0123456789abcdef-0123"))
	for _, tok := range []string{"", "a", "some-token", string(make([]byte, 5000))} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(tok))
		want := hex.EncodeToString(m.Sum(nil))
		if got := f.Sum(tok); got != want {
			t.Fatalf("Sum(%q) = %s, want %s", tok, got, want)
		}
		if f.Short(tok) != want[:12] {
			t.Fatalf("Short(%q) = %s", tok, f.Short(tok))
		}
		if other.Sum(tok) == want {
			t.Fatal("different keys give the same fingerprint")
		}
	}
}

func TestFingerprinterConcurrent(t *testing.T) {
	f := NewFingerprinter([]byte("0123456789abcdef0123456789abcdef"))
	want := f.Sum("tok")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if f.Sum("tok") != want {
					t.Error("pooled state leaked between calls")
					return
				}
				f.Sum("other")
			}
		})
	}
	wg.Wait()
}

func BenchmarkFingerprint(b *testing.B) {
	f := NewFingerprinter([]byte("0123456789abcdef0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		f.Sum("alo_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
	}
}
