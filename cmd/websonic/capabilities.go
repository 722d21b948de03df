package main

import (
	"fmt"
	"io"

	"github.com/websonic/websonic/internal/capwords"

	"github.com/websonic/websonic/runtime/server"
	"github.com/websonic/websonic/sdk/manifest"
)

// capabilityLines says in plain words what a module may do with caps:
// the same sentences as the admin area's (package capwords).
func capabilityLines(module string, caps manifest.Capabilities) []string {
	return capwords.Texts(capwords.Describe("en", module, caps))
}

// showPreview prints what an install or approve would do.
func showPreview(w io.Writer, action string, p *server.ModulePreview) {
	// A staged release's metadata is its publisher's, not yet checked as a
	// manifest: every string it brings reaches the terminal inert.
	switch {
	case action == "approve":
		fmt.Fprintf(w, "%s@%s (staged; %s@%s serves now) asks for:\n", termSafe(p.Module), termSafe(p.Version), termSafe(p.Module), termSafe(p.Installed))
	case p.Installed != "":
		fmt.Fprintf(w, "%s@%s (%s serves now) asks to:\n", termSafe(p.Module), termSafe(p.Version), termSafe(p.Installed))
	default:
		fmt.Fprintf(w, "%s@%s asks to:\n", termSafe(p.Module), termSafe(p.Version))
	}
	for _, l := range capabilityLines(p.Module, p.Capabilities) {
		fmt.Fprintf(w, "  - %s\n", termSafe(l))
	}
	if len(p.New) > 0 {
		fmt.Fprintf(w, "beyond what you approved for %s:\n", termSafe(p.Installed))
		for _, n := range p.New {
			fmt.Fprintf(w, "  + %s\n", termSafe(n))
		}
	}
}
