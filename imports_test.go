package main

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedImports says which project packages each project package may
// import (non-test files). Arrows point one way: server -> domain ->
// leaves; leaves import nothing from the project. A package missing here
// fails the test, so that every new package gets a rule.
var allowedImports = map[string][]string{
	"":                                  {"*"}, // main wires everything
	"appliance":                         {"appliance/audio", "appliance/player", "appliance/protocol", "appliance/voice", "store", "wasm"},
	"appliance/audio":                   {},
	"appliance/bench":                   {"*"},
	"appliance/config":                  {},
	"appliance/player":                  {"appliance/audio"},
	"appliance/protocol":                {},
	"appliance/server":                  {"appliance", "appliance/protocol", "appliance/sysstat", "appliance/metrics"},
	"appliance/server/servertest":       {"appliance", "appliance/server", "store", "wasm"},
	"appliance/sysstat":                 {},
	"appliance/metrics":                 {"appliance", "appliance/voice"},
	"appliance/voice":                   {},
	"appliance/voice/voicetest":         {},
	"appliance/voice/dave":              {"appliance/voice/dave/internal/mls"},
	"appliance/voice/dave/internal/mls": {},
	"appliance/voice/dave/davetest":     {"appliance/voice/dave", "appliance/voice/dave/internal/mls", "appliance/voice/voicetest"},
	"store":                             {},
	"wasm":                              {"wasm/*"},
	"firmware/*":                        {"*"},
	"wasm/*":                            {"wasm/*"},
}

// cgoAllowed are the only packages that may import the libopus binding.
var cgoAllowed = map[string]bool{"appliance/audio": true, "appliance/voice/voicetest": true}

const module = "github.com/discodo-go/discodo"

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		rules, ok := rule(pkg)
		if !ok {
			t.Errorf("package %q has no import rule in imports_test.go", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if imp == "github.com/hraban/opus" && !cgoAllowed[pkg] {
				t.Errorf("%s imports the cgo libopus binding; only %v may", pkg, cgoAllowed)
			}
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if r := rel(imp); !allowed(rules, r) {
				t.Errorf("%s may not import %s (allowed: %v)", pkg, r, rules)
			}
		}
	}
}

func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

func rule(pkg string) ([]string, bool) {
	if r, ok := allowedImports[pkg]; ok {
		return r, true
	}
	for k, r := range allowedImports {
		if strings.HasSuffix(k, "/*") && strings.HasPrefix(pkg, strings.TrimSuffix(k, "*")) {
			return r, true
		}
	}
	return nil, false
}

func allowed(rules []string, imp string) bool {
	for _, r := range rules {
		if r == "*" || r == imp || (strings.HasSuffix(r, "/*") && strings.HasPrefix(imp, strings.TrimSuffix(r, "*"))) {
			return true
		}
	}
	return false
}
