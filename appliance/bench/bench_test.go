package bench

import (
	"context"
	"testing"
	"time"
)

func TestRunSmoke(t *testing.T) {
	for _, mode := range []string{ModeEncode, ModePassthrough} {
		t.Run(mode, func(t *testing.T) {
			res, err := Run(context.Background(), Config{Mode: mode, Streams: 2, Duration: time.Second, Warmup: 500 * time.Millisecond, MediaDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
		})
	}
}
