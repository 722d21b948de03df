package sandboxdb

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// TestResetAtRelease: the reset is sent when a call releases its
// connection, and PostgreSQL runs it at once: the call's advisory lock and
// channel are gone while the connection still waits in the pool, before
// any other call acquires it (another session watches, polling with a
// deadline).
func TestResetAtRelease(t *testing.T) {
	b, admin, _ := newBroker(t, Config{})
	ctx := context.Background()
	d, err := b.Open(ctx, testManifest("resetter", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := d.Session()
	res := doQuery(t, s, `SELECT pg_backend_pid()::int8, pg_advisory_lock(4242)`)
	if res.Err != nil {
		t.Fatal(res.Err.Message)
	}
	pid := res.Rows[0][0].Int
	if res := doQuery(t, s, `LISTEN somewhere`); res.Err != nil {
		t.Fatal(res.Err.Message)
	}
	held := func() bool {
		t.Helper()
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if !held() {
		t.Fatal("the advisory lock is not held during the call")
	}
	s.Close()
	for deadline := time.Now().Add(10 * time.Second); held(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the advisory lock outlived the call while its connection was idle")
		}
	}
	if st := d.Pool().Stat(); st.AcquiredConns() != 0 {
		t.Errorf("%d connections still acquired after the call", st.AcquiredConns())
	}
	// The next call reads the reset's answer first, then its own.
	for range 3 {
		res := query(t, d, `SELECT (SELECT count(*) FROM pg_listening_channels())::int8`)
		if res.Err != nil || res.Rows[0][0].Int != 0 {
			t.Fatalf("channels after the call: %+v", res)
		}
	}
}

// TestResetHammer: calls on all of a module's connections at once, each
// changing its session (a setting, an advisory lock, a channel, a cursor)
// and first checking that it starts from the runtime's state, whichever
// connection it gets: no call sees another's state, no answer is read by
// the wrong statement. Run it with -race.
func TestResetHammer(t *testing.T) {
	b, _, _ := newBroker(t, Config{})
	ctx := context.Background()
	d, err := b.Open(ctx, testManifest("hammer", nil), nil, nil, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const workers, calls = 4, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				s := d.Session()
				res := doQueryE(s, `SELECT current_setting('work_mem') || '/' ||
					(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) || '/' ||
					(SELECT count(*) FROM pg_listening_channels()) || '/' || (SELECT count(*) FROM pg_cursors WHERE name <> '')`)
				if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0].Bytes) != "4MB/0/0/0" {
					errs <- fmt.Errorf("worker %d call %d starts from %+v", w, i, res)
				}
				key := strconv.Itoa(w*1000 + i)
				for _, q := range []string{
					`SET work_mem = '` + strconv.Itoa(8+i) + `MB'`,
					`SELECT pg_advisory_lock(` + key + `)`,
					`LISTEN c` + key,
					`BEGIN`,
					`DECLARE k` + key + ` CURSOR WITH HOLD FOR SELECT 1`,
					`COMMIT`,
				} {
					if res := doQueryE(s, q); res.Err != nil {
						errs <- fmt.Errorf("%s: %s", q, res.Err.Message)
					}
				}
				s.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func doQueryE(s *Session, sql string) *abi.DBResult {
	req := abi.DBRequest{Op: abi.DBQuery, Conn: 1, SQL: sql}
	var res abi.DBResult
	if err := res.Unmarshal(s.Do(context.Background(), req.AppendMarshal(nil))); err != nil {
		return &abi.DBResult{Err: &abi.DBError{Message: err.Error()}}
	}
	return &res
}
