package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/server"
)

// TestUsageNamesEveryGroup: `websonic -h` names every group whose -h lists
// verbs (backup, site, privacy… included), and its command column is wide
// enough for the longest command, so every description starts in one column.
func TestUsageNamesEveryGroup(t *testing.T) {
	u := usage()
	var groups []string
	for _, n := range commandNames() {
		if g, _, ok := strings.Cut(n, " "); ok && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	_, footer, _ := strings.Cut(u, "GROUP -h (")
	footer, _, _ = strings.Cut(footer, ")")
	if got := strings.Split(footer, ", "); !slices.Equal(got, groups) {
		t.Errorf("websonic -h names the groups %v, want %v", got, groups)
	}
	col := -1
	for line := range strings.Lines(u) {
		if !strings.HasPrefix(line, "  websonic ") {
			continue
		}
		name := ""
		for _, n := range commandNames() {
			if strings.HasPrefix(line, "  websonic "+n+" ") && len(n) > len(name) {
				name = n
			}
		}
		at := strings.Index(line, commands[name].help)
		if col == -1 {
			col = at
		}
		if at != col {
			t.Errorf("description of %q starts at column %d, not %d: %q", name, at, col, line)
		}
	}
}

// TestBackupProgressLines: a step without counts prints its name alone
// ("reload", not "reload: 0"); counted steps print done/total.
func TestBackupProgressLines(t *testing.T) {
	var b strings.Builder
	p := backupProgress(&b)
	p(server.BackupProgress{Step: "reload"})
	p(server.BackupProgress{Step: "restore", Done: 2, Total: 6})
	p(server.BackupProgress{Step: "write", Done: 4096})
	if got, want := b.String(), "reload\nrestore: 2/6\nwrite: 4096\n"; got != want {
		t.Errorf("progress lines %q, want %q", got, want)
	}
}
