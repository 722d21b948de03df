package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/websonic/websonic/runtime/server"
	"github.com/websonic/websonic/sdk/manifest"
)

// audience says who an access level lets in.
func audience(a manifest.Access) string {
	switch a {
	case manifest.AccessPublic:
		return "anyone, signed in or not"
	case manifest.AccessMember:
		return "signed-in users"
	case manifest.AccessStaff:
		return "staff"
	case manifest.AccessAdmin:
		return "admins"
	}
	return fmt.Sprintf("%q", a)
}

// coreData says what a core data view lets a module read.
var coreData = map[string]string{
	manifest.CoreUsers:      "read your users' usernames, display names and roles",
	manifest.CoreUserEmails: "read your users' email addresses",
}

// capabilityLines says in plain words what a module may do with caps.
func capabilityLines(module string, caps manifest.Capabilities) []string {
	var out []string
	for _, r := range caps.Routes {
		methods := r.Methods
		if len(methods) == 0 {
			methods = []string{"GET", "HEAD"}
		}
		out = append(out, fmt.Sprintf("answer requests to %s and below (%s) from %s", r.Path, strings.Join(methods, ", "), audience(r.Access)))
	}
	for _, v := range caps.CoreData {
		what, ok := coreData[v]
		if !ok {
			what = "read the site's core data"
		}
		out = append(out, fmt.Sprintf("%s (core data %q)", what, v))
	}
	for _, t := range caps.Topics {
		out = append(out, fmt.Sprintf("send and receive realtime messages on topic %q", t))
	}
	for _, o := range caps.OutboundHTTP {
		out = append(out, fmt.Sprintf("make HTTP requests to %s", o))
	}
	for _, s := range caps.Schedules {
		out = append(out, fmt.Sprintf("run the job %q on schedule %q", s.Name, s.Cron))
	}
	for _, c := range caps.AdminCommands {
		out = append(out, fmt.Sprintf("offer admins the command %q: %s", c.Name, c.Description))
	}
	for _, n := range caps.Nav {
		out = append(out, fmt.Sprintf("show the link %q (%s) in the navigation to %s", n.Label, n.Path, audience(n.Access)))
	}
	if len(caps.ConfigSchema) > 0 {
		names := make([]string, 0, len(caps.ConfigSchema))
		for k := range caps.ConfigSchema {
			names = append(names, k)
		}
		slices.Sort(names)
		out = append(out, "take the settings "+strings.Join(names, ", "))
	}
	return append(out, fmt.Sprintf("keep its own data in the database schema mod_%s, which only it can use", module))
}

// showPreview prints what an install or approve would do.
func showPreview(w io.Writer, action string, p *server.ModulePreview) {
	switch {
	case action == "approve":
		fmt.Fprintf(w, "%s@%s (staged; %s@%s serves now) asks for:\n", p.Module, p.Version, p.Module, p.Installed)
	case p.Installed != "":
		fmt.Fprintf(w, "%s@%s (%s serves now) asks to:\n", p.Module, p.Version, p.Installed)
	default:
		fmt.Fprintf(w, "%s@%s asks to:\n", p.Module, p.Version)
	}
	for _, l := range capabilityLines(p.Module, p.Capabilities) {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	if len(p.New) > 0 {
		fmt.Fprintf(w, "beyond what you approved for %s:\n", p.Installed)
		for _, n := range p.New {
			fmt.Fprintf(w, "  + %s\n", n)
		}
	}
}
