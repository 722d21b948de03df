package server

import (
	"context"
	"testing"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestEraseLeavesNoNameInCommandAudit: the audit rows of the admin
// commands an erased admin ran (command.run, whose detail names the
// actor "admin NAME (id N)") keep no trace of the username.
func TestEraseLeavesNoNameInCommandAudit(t *testing.T) {
	s := newCmdjobsSite(t, nil)
	ctx := context.Background()
	s.user(t, "root_admin", site.RoleAdmin)
	gone := s.user(t, "leaving_admin_zed", site.RoleAdmin)
	if _, err := s.srv.RunCommand(ctx, gone, "cmdjobs", "whoami", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.EraseUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE subject LIKE '%leaving_admin_zed%' OR detail::text LIKE '%leaving_admin_zed%'`); n != 0 {
		t.Errorf("%d audit rows still name the erased admin", n)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run' AND actor_id = $1`, gone.ID); n != 1 {
		t.Errorf("%d command.run rows by the erased admin, want 1 (kept, without the name)", n)
	}
}
