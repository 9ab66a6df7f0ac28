package strategies

// goSizeClasses are the Go runtime's small-object size classes
// (runtime/sizeclasses.go) up to 1 KiB: an allocation takes the smallest
// class that holds it.
var goSizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024}

// GoAlloc is the bytes the Go runtime takes for an object of n bytes (its
// size class; n itself beyond 1 KiB, close enough for estimates). Zero for
// n ≤ 0.
func GoAlloc(n int) int {
	if n <= 0 {
		return 0
	}
	for _, c := range goSizeClasses {
		if n <= c {
			return c
		}
	}
	return n
}

// MapSlotBytes is a back-of-envelope of what one entry costs in a Go map
// (Swiss tables, Go ≥ 1.24) whose key and value take keyValue bytes: a
// slot plus its control byte, divided by the table's typical load. Tables
// grow by doubling at 7/8 full, so between growths the load runs from 7/16
// to 7/8; 0.65 is the middle of that range.
func MapSlotBytes(keyValue int) float64 { return float64(keyValue+1) / 0.65 }
