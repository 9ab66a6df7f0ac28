package redistopo

import (
	"strconv"
	"strings"
)

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// key, or of its hash tag — the part between the first "{" and the next
// "}" when that part is not empty — modulo 16384, as CLUSTER KEYSLOT
// computes it.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % Slots)
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the
// checksum Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// probeKey returns a key of the given slot, for writes that check a node
// serves that slot without touching application keys.
func probeKey(slot int) string {
	for i := 0; ; i++ {
		tag := strconv.Itoa(i)
		if int(crc16(tag)%Slots) == slot {
			return "redistopo:probe:{" + tag + "}"
		}
	}
}
