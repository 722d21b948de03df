package server

import "github.com/websonic/websonic/runtime/internal/outbound"

// CheckOutboundPrivate checks origins as Config.Outbound.PrivateOrigins
// takes them (scheme://host:port), so that a command can refuse a bad one
// before it starts anything.
func CheckOutboundPrivate(origins []string) error { return outbound.CheckOrigins(origins) }
