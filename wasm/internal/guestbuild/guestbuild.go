// Package guestbuild builds the WebAssembly files package wasm embeds or
// tests with, the same way for `go generate` and for the tests that check
// the checked-in files are not stale.
package guestbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// GuestPackage is the built-in filters' guest, relative to the wasm package
// directory.
const GuestPackage = "./builtin/guest"

// BuiltinFile is where the built guest is checked in, relative to the wasm
// package directory.
const BuiltinFile = "builtin/builtin.wasm"

// EqualizerSource and EqualizerFile are the hand-written equalizer module,
// text and assembled, relative to the wasm package directory.
const (
	EqualizerSource = "builtin/equalizer/equalizer.wat"
	EqualizerFile   = "builtin/equalizer/equalizer.wasm"
)

// Builtin builds the guest module from the wasm package directory dir into
// out. The build is reproducible: the same sources and Go toolchain give the
// same bytes whatever the checkout path and the caller's environment
// (GOFLAGS, GOWASM, CGO_ENABLED are all pinned).
func Builtin(ctx context.Context, dir, out string) error {
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		if goCmd, err = exec.LookPath("go"); err != nil {
			return fmt.Errorf("guestbuild: no go command: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, goCmd, "build",
		"-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, GuestPackage)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOOS=wasip1", "GOARCH=wasm", "GOWASM=", "CGO_ENABLED=0", "GOFLAGS=", "GOEXPERIMENT=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("guestbuild: go build %s: %w: %s", GuestPackage, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// WAT assembles a WebAssembly text file with wabt's wat2wasm (Debian
// package wabt). It returns exec.ErrNotFound (wrapped) when wat2wasm is not
// installed.
func WAT(ctx context.Context, src, out string) error {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		return fmt.Errorf("guestbuild: wat2wasm (Debian package wabt): %w", err)
	}
	cmd := exec.CommandContext(ctx, tool, src, "-o", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("guestbuild: wat2wasm %s: %w: %s", src, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
