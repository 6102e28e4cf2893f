package audio

import (
	"math/rand/v2"
	"testing"
)

// oggCRCBytewise is the definition: a byte at a time, the CRC field zero.
func oggCRCBytewise(page []byte) uint32 {
	var crc uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		crc = crc<<8 ^ oggCRCTables[0][byte(crc>>24)^b]
	}
	return crc
}

// TestOggCRC: the sliced checksum equals the definition for every length
// (around the CRC field and the 8-byte blocks) and random contents, and
// the check value is the catalogue's: CRC-32/POSIX (the same polynomial,
// initial value 0) gives 0x765e7680 for "123456789" after its final
// inversion, which the Ogg CRC does not do.
func TestOggCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 600 {
		page := make([]byte, n)
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		if got, want := oggCRC(page), oggCRCBytewise(page); got != want {
			t.Fatalf("length %d: %#08x, want %#08x", n, got, want)
		}
	}
	if got := oggCRCUpdate(0, []byte("123456789")); got != 0x765e7680^0xffffffff {
		t.Errorf(`CRC of "123456789" %#08x, want %#08x`, got, 0x765e7680^0xffffffff)
	}
}

// BenchmarkOggCRC checks one page of 50 Opus packets at 128 kb/s.
func BenchmarkOggCRC(b *testing.B) {
	page := make([]byte, 27+50+50*320)
	for i := range page {
		page[i] = byte(i * 7)
	}
	for _, impl := range []struct {
		name string
		f    func([]byte) uint32
	}{{"sliced", oggCRC}, {"bytewise", oggCRCBytewise}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for b.Loop() {
				impl.f(page)
			}
		})
	}
}
