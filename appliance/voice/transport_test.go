package voice

import (
	"crypto/rand"
	"testing"
)

func BenchmarkSeal(b *testing.B) {
	for _, mode := range []string{ModeAES256GCM, ModeXChaCha20Poly1305} {
		b.Run(mode, func(b *testing.B) {
			key := make([]byte, 32)
			rand.Read(key)
			p, err := newPacketizer(mode, key, 1234, 0, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 160)
			buf := make([]byte, 0, maxPacket)
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := p.seal(buf[:0], payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
