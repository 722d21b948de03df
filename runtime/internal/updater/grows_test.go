package updater

import (
	"slices"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

// TestGrowsAdminPages: an update that adds an admin page asks for more
// than was approved (it waits for the owner); one that keeps or drops
// pages does not.
func TestGrowsAdminPages(t *testing.T) {
	approved := manifest.Capabilities{AdminPages: []manifest.AdminPage{{Name: "moderation", Label: "Moderation"}}}
	for _, tc := range []struct {
		name  string
		pages []manifest.AdminPage
		want  []string
	}{
		{"same", []manifest.AdminPage{{Name: "moderation", Label: "Moderate"}}, nil},
		{"dropped", nil, nil},
		{"added", []manifest.AdminPage{{Name: "moderation", Label: "M"}, {Name: "tickets", Label: "Tickets"}}, []string{"admin page tickets"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Grows(approved, manifest.Capabilities{AdminPages: tc.pages}); !slices.Equal(got, tc.want) {
				t.Errorf("Grows: %q, want %q", got, tc.want)
			}
		})
	}
}

// TestGrowsMail: an update that starts asking for mail waits for the
// owner; one that keeps or drops it does not.
func TestGrowsMail(t *testing.T) {
	for _, tc := range []struct {
		name              string
		approved, request bool
		want              []string
	}{
		{"new", false, true, []string{"mail (e-mail through the site's relay)"}},
		{"kept", true, true, nil},
		{"dropped", true, false, nil},
		{"never", false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Grows(manifest.Capabilities{Mail: tc.approved}, manifest.Capabilities{Mail: tc.request}); !slices.Equal(got, tc.want) {
				t.Errorf("Grows: %q, want %q", got, tc.want)
			}
		})
	}
}
