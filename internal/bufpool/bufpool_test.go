package bufpool

import "testing"

func TestPool(t *testing.T) {
	p := New()
	b := p.Get()
	if len(b) != Size {
		t.Fatalf("len = %d, want %d", len(b), Size)
	}
	p.Put(b[:10]) // resliced: restored to full length
	if got := p.Get(); len(got) != Size {
		t.Fatalf("after a short Put, len = %d", len(got))
	}
	p.Put(make([]byte, 10)) // foreign capacity: dropped, never handed out
	for range 4 {
		if got := p.Get(); len(got) != Size {
			t.Fatalf("foreign buffer handed out: len %d", len(got))
		}
	}
}
