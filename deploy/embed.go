package deploy

import (
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
)

// SystemdUnit is systemd/websonic.service, the unit install.sh installs as
// /etc/systemd/system/websonic.service (install.sh carries a copy; a test
// keeps the two equal).
//
//go:embed systemd/websonic.service
var SystemdUnit []byte

// InstallScript is install.sh as committed, with no pinned root: `websonic
// registry serve` serves it as is at /download/install.sh, and the download
// page's command passes --root-sha256, so the pin is always in sight.
// StampInstallScript makes a copy with the pin built in.
//
//go:embed install.sh
var InstallScript []byte

// pinnedLine is install.sh's placeholder line; StampInstallScript fills it.
const pinnedLine = `PINNED_ROOT_SHA256=""`

var sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// StampInstallScript returns a copy of script (InstallScript) whose
// PINNED_ROOT_SHA256 line pins rootSHA256, the sha256 (64 lowercase hex
// digits) of the registry's root.json: the script then refuses any
// registry whose root.json has other bytes unless given --root-sha256.
// script itself is not changed.
//
// It panics if rootSHA256 is not 64 lowercase hex digits or script holds
// the placeholder line other than exactly once: both are bugs of the
// release process, never input from outside.
func StampInstallScript(script []byte, rootSHA256 string) []byte {
	if !sha256HexRE.MatchString(rootSHA256) {
		panic(fmt.Sprintf("deploy: StampInstallScript: %q is not a sha256 in lowercase hex", rootSHA256))
	}
	line := []byte("\n" + pinnedLine + "\n")
	if bytes.Count(script, line) != 1 {
		panic("deploy: StampInstallScript: the script has no single " + pinnedLine + " line")
	}
	return bytes.Replace(script, line, []byte("\nPINNED_ROOT_SHA256=\""+rootSHA256+"\"\n"), 1)
}
