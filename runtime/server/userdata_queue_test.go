package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestExportNotKeptInQueue: an export carried through the request queue
// (websonic user export) does not stay in websonic.module_requests once
// the owner has it, nor after the user's erasure: the archive holds all
// the user's personal data, and the queue keeps its rows.
func TestExportNotKeptInQueue(t *testing.T) {
	s := usersSite(t)
	ctx := t.Context()
	s.mkUser(t, "boss", site.RoleAdmin)
	zoe := s.mkUser(t, "zoe", site.RoleMember)
	s.serve(t)
	c := s.console(t)
	opts := RequestOptions{Wait: time.Minute}
	const kept = `SELECT count(*) FROM websonic.module_requests WHERE action = 'user_export' AND result <> ''`

	var buf bytes.Buffer
	if _, err := c.ExportUser(ctx, "zoe", &buf, opts); err != nil {
		t.Fatal(err)
	}
	if files := unzip(t, buf.Bytes()); !bytes.Contains(files["core.json"], []byte(`"zoe"`)) {
		t.Fatalf("archive: %v", files)
	}
	if n := s.count(t, kept); n != 0 {
		t.Errorf("%d export archives left in the request queue after the owner got the archive", n)
	}

	// An export no one collected (the owner's wait ran out) goes with the
	// erasure.
	if _, err := s.srv.db.Pool.Exec(ctx, `INSERT INTO websonic.module_requests (action, module, args, status, result, done_at)
		VALUES ('user_export', '', jsonb_build_object('user_id', $1::bigint), 'done', '{"archive":"personal"}', now())`, zoe.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EraseUser(ctx, "zoe", opts); err != nil {
		t.Fatal(err)
	}
	if n := s.count(t, kept); n != 0 {
		t.Errorf("%d export archives of an erased user left in the request queue", n)
	}
}
