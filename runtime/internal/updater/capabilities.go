package updater

import (
	"fmt"
	"slices"

	"github.com/websonic/websonic/sdk/manifest"
)

var accessRank = map[manifest.Access]int{
	manifest.AccessPublic: 0, manifest.AccessMember: 1, manifest.AccessStaff: 2, manifest.AccessAdmin: 3,
}

// Grows lists what requested asks for beyond approved: new routes (or
// methods, or a wider audience), core data views, realtime topics,
// outbound origins, schedules, admin commands, user actions, seal and mail. Navigation entries and
// the configuration schema grant nothing and are not compared. An empty
// list means the owner's approval covers requested.
func Grows(approved, requested manifest.Capabilities) []string {
	var out []string
	for _, rt := range requested.Routes {
		i := slices.IndexFunc(approved.Routes, func(a manifest.Route) bool { return a.Path == rt.Path })
		if i < 0 {
			out = append(out, "route "+rt.Path)
			continue
		}
		a := approved.Routes[i]
		for _, m := range methods(rt) {
			if !slices.Contains(methods(a), m) {
				out = append(out, fmt.Sprintf("method %s on route %s", m, rt.Path))
			}
		}
		if accessRank[rt.Access] < accessRank[a.Access] {
			out = append(out, fmt.Sprintf("route %s open to %s (approved: %s)", rt.Path, rt.Access, a.Access))
		}
	}
	out = append(out, missing("core data", approved.CoreData, requested.CoreData)...)
	out = append(out, missing("topic", approved.Topics, requested.Topics)...)
	out = append(out, missing("outbound HTTP to", approved.OutboundHTTP, requested.OutboundHTTP)...)
	out = append(out, missing("schedule", names(approved.Schedules, func(s manifest.Schedule) string { return s.Name + " " + s.Cron }),
		names(requested.Schedules, func(s manifest.Schedule) string { return s.Name + " " + s.Cron }))...)
	out = append(out, missing("admin command", names(approved.AdminCommands, func(c manifest.AdminCommand) string { return c.Name }),
		names(requested.AdminCommands, func(c manifest.AdminCommand) string { return c.Name }))...)
	out = append(out, missing("user action", approved.UserActions, requested.UserActions)...)
	out = append(out, missing("admin page", names(approved.AdminPages, func(p manifest.AdminPage) string { return p.Name }),
		names(requested.AdminPages, func(p manifest.AdminPage) string { return p.Name }))...)
	if requested.Seal && !approved.Seal {
		out = append(out, "seal (the site's data key)")
	}
	if requested.Mail && !approved.Mail {
		out = append(out, "mail (e-mail through the site's relay)")
	}
	return out
}

func methods(rt manifest.Route) []string {
	if len(rt.Methods) == 0 {
		return []string{"GET", "HEAD"}
	}
	if slices.Contains(rt.Methods, "GET") && !slices.Contains(rt.Methods, "HEAD") {
		return append(slices.Clone(rt.Methods), "HEAD")
	}
	return rt.Methods
}

func missing(what string, have, want []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, what+" "+w)
		}
	}
	return out
}

func names[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
