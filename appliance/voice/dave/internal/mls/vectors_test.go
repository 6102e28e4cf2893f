package mls

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// vectorDir finds ../shared/mls-test-vectors relative to the module root
// (the directory holding go.mod), where CI and developers have it.
func vectorDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = up
	}
	v := filepath.Join(dir, "..", "shared", "mls-test-vectors")
	if _, err := os.Stat(v); err != nil {
		if os.Getenv("DISCODO_REQUIRE_INTEROP") != "" {
			t.Fatalf("RFC 9420 test vectors missing at %s: %v", v, err)
		}
		t.Skipf("RFC 9420 test vectors missing at %s (set DISCODO_REQUIRE_INTEROP=1 to fail instead)", v)
	}
	return v
}

var vectorCache sync.Map // file name -> []byte

// loadVectors decodes one vector file into out; files are read once per
// test binary.
func loadVectors(t testing.TB, name string, out any) {
	t.Helper()
	raw, ok := vectorCache.Load(name)
	if !ok {
		b, err := os.ReadFile(filepath.Join(vectorDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = vectorCache.LoadOrStore(name, b)
	}
	if err := json.Unmarshal(raw.([]byte), out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// hexBytes is a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil {
		*h = nil
		return nil
	}
	v, err := hex.DecodeString(*s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestVectorsNotRun names the vector files this package does not run, and
// why; every other file runs for ciphersuite 2 without skips.
func TestVectorsNotRun(t *testing.T) {
	for file, why := range map[string]string{
		"secret-tree.json":           "the secret tree, which only PrivateMessage uses; DAVE sends PublicMessages only",
		"message-protection.json":    "PrivateMessage protection; DAVE sends PublicMessages only",
		"passive-client-random.json": "no ciphersuite 2 case in this file",
		"tree-operations.json":       "no ciphersuite 2 case in this file (adds and removes are covered by the passive-client vectors)",
	} {
		t.Run(file, func(t *testing.T) { t.Skip(why) })
	}
}
