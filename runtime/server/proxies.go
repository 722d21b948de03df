package server

import (
	"net/netip"

	"github.com/websonic/websonic/runtime/internal/clientaddr"
)

// ParseTrustedProxies parses Config.TrustedProxies from a list of CIDR
// prefixes or addresses separated by commas or white space
// ("10.0.0.0/8, 127.0.0.1, ::1"); each error names the entry at fault.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	return clientaddr.ParsePrefixes(list)
}
