// Package e2e holds no code: its tests prove the appliance that the
// firmware directory builds, by running the real binaries as processes.
//
// The firmware directory around it:
//
//   - build.sh: static binaries for amd64, arm64 and armv7 (libopus,
//     libopusfile and libogg linked in) and, with --deb, the packages;
//     sysroot.sh fetches the ARM -dev packages into a private sysroot;
//     deps.sh installs toolchains and test tools.
//   - discodo.service: the systemd unit (Type=notify, watchdog,
//     Restart=always, dynamic user, hardening); discodo.conf: the default
//     config; debian/: the maintainer scripts and build-deb.sh.
//   - systemd/: the sd_notify protocol in pure Go, used by main.
//   - README.md: from a fresh Raspberry Pi OS to a running node.
//
// # Tests
//
// The tests build the binaries with build.sh (once per architecture and
// test run, into a temporary directory) and run them:
//
//   - TestCrashCycles SIGKILLs the node 50 times at random moments during
//     traffic and boot and checks after each restart that the store opens
//     and that every acknowledged change is there exactly once, in order.
//   - TestCorruptStoreAtBoot boots on a garbage or torn discodo.db: a loud
//     log, the file moved aside, a serving node, no crash loop.
//   - TestNotifySystemd is systemd's side of Type=notify: READY=1 only
//     once the port answers, WATCHDOG=1 pets, STOPPING=1 on SIGTERM.
//   - TestARMUnderQEMU runs the arm64 and armv7 binaries under qemu-user:
//     HELLO, sources resolved (Ogg Opus through the static libopus), a join
//     of the fake Discord voice server (voicetest), and (once the player
//     is wired) a tone heard there.
//   - TestFiltersUnderQEMU cross-builds package wasm's tests for arm64
//     and armv7 and runs the filter tests under qemu-user: wazero's arm64
//     compiler (NEON for the equalizer's SIMD) and its interpreter (armv7)
//     must give what the filters give natively.
//   - TestUnitFile checks the unit with systemd-analyze verify and its
//     offline security score; TestPackages inspects the three .debs;
//     TestDebUpgradeKeepsState installs, upgrades, removes and purges the
//     package in a dpkg --root tree and runs the installed node.
//
// Tests that need the cross compilers, qemu-user, dpkg or systemd-analyze
// skip when they are missing, unless DISCODO_REQUIRE_INTEROP=1 (CI), where
// firmware/deps.sh --test has installed them.
//
// # Why a package of its own
//
// The repository's import rules (imports_test.go) cover the packages under
// firmware/ ("firmware/*") but not firmware itself, and a package without
// a rule fails that test; so the tests live one level down.
package e2e
