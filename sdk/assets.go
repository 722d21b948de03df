package sdk

import "strings"

// assetsPrefix is where the host serves this module version's assets, as
// the host's last request said (abihttp.AssetsHeader); an instance serves
// one version only, so it never changes once known.
var assetsPrefix string

// Asset returns the URL path of the file at path in the module's assets
// folder (assets/ next to module.json), as the site serves it for the
// module version that is running:
//
//	<script src="/static/modules/hello/1.2.0~3f9a…/app.js"></script>
//
// The URL is immutable (browsers cache it for a year) and is the only
// place a module page may load scripts from: the runtime's
// Content-Security-Policy names exactly this version's asset prefix (ABI.md
// section 15). Inline scripts, event-handler attributes and scripts served
// by the module's own routes do not run.
//
// The host tells the module its asset prefix with every request: call
// Asset while serving one (in a handler), not from init, where it returns
// "" (as it does for a module without assets). A leading "/" in path is
// ignored.
func Asset(path string) string {
	if assetsPrefix == "" {
		return ""
	}
	return assetsPrefix + strings.TrimPrefix(path, "/")
}
