package sticky

import (
	"unsafe"

	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/strategies"
)

// EstimateHeapPerSession is a back-of-envelope estimate, written from the
// store's data structures, of the heap one session costs a gateway when
// its user name is userLen bytes long and the user holds no other session.
// The harness's scale run (`authlab scale`) prints it beside the measured
// growth of the live heap. Per session the store keeps:
//
//   - its entry (the fingerprint key, user, times, heap index, user list
//     links), one allocation;
//   - a copy of the principal (Login clones it), and the copy's roles
//     slice (one role: the seeded users' "user");
//   - the user name string (the login's own; the entry shares it);
//   - a slot in its shard's map[key]*entry and in the shard's expiry heap;
//   - a slot in the user index (map[string]*userList) and that user's
//     list head.
func EstimateHeapPerSession(userLen int) float64 {
	var (
		e  entry
		p  identity.Principal
		ul userList
	)
	const ptr = int(unsafe.Sizeof(uintptr(0)))
	b := float64(strategies.GoAlloc(int(unsafe.Sizeof(e))) +
		strategies.GoAlloc(int(unsafe.Sizeof(p))) +
		strategies.GoAlloc(int(unsafe.Sizeof("")) /* one role */) +
		strategies.GoAlloc(userLen) +
		strategies.GoAlloc(int(unsafe.Sizeof(ul))))
	b += strategies.MapSlotBytes(int(unsafe.Sizeof(e.key)) + ptr) // shard map
	b += strategies.MapSlotBytes(int(unsafe.Sizeof("")) + ptr)    // user index
	b += float64(ptr) * 1.125                                     // expiry heap slot (append grows by 1.25×)
	return b
}
