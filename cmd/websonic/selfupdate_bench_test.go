package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSelfUpdate measures the runtime's self-update on auto against a
// real registry while clients send requests on new and kept-alive
// connections: each iteration publishes a newer release (built with its
// version first, off the clock) and times the publication (push + sign)
// and then the wait until the new process serves (its READY=1 with
// MAINPID) and the old one has drained and exited. As the baseline, each
// iteration also times a plain SIGHUP restart of the running binary, from
// the signal to the same point. Reported: s/publish, s/update (published
// → new process serving, old gone), s/restart (SIGHUP → same), their
// ratio, and failed-requests over the whole run (target 0).
//
//	go test -run '^$' -bench SelfUpdate -benchtime 3x -timeout 20m ./cmd/websonic/
func BenchmarkSelfUpdate(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := b.TempDir()
	exe := buildVersion(b, dir, "1.0.0")
	reg := startRuntimeRegistry(b, ctx, exe)
	sd := newSystemd(b)
	s := startRestartable(b, ctx, exe, sd, nil, "--registry", reg.url, "--trusted-root", reg.root,
		"--registry-ca", reg.ca, "--self-update", "auto")
	l := startLoad(s.url + "/healthz")
	flowing := func() {
		for n := l.ok.Load(); l.ok.Load() < n+50; {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// replaced waits for the new process's READY and the old one's exit.
	replaced := func() {
		old := int(s.pid.Load())
		pid := sd.ready(b, ctx)
		if pid == 0 || pid == old {
			b.Fatalf("MAINPID=%d after a restart of %d", pid, old)
		}
		s.pid.Store(int64(pid))
		waitGone(b, ctx, old)
	}
	var publish, update, restart time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		v := fmt.Sprintf("1.%d.0", i+1)
		bin := readFile(b, buildVersion(b, b.TempDir(), v))
		flowing()
		b.StartTimer()

		start := time.Now()
		reg.publish(b, ctx, v, bin)
		published := time.Now()
		replaced()
		publish, update = publish+published.Sub(start), update+time.Since(published)
		if got := s.version(b); got != v {
			b.Fatalf("serving %s after the update to %s", got, v)
		}
		flowing()

		start = time.Now()
		if err := syscall.Kill(int(s.pid.Load()), syscall.SIGHUP); err != nil {
			b.Fatal(err)
		}
		replaced()
		restart += time.Since(start)
		flowing()
	}
	b.StopTimer()
	l.cancel()
	l.wg.Wait()
	n := float64(b.N)
	b.ReportMetric(publish.Seconds()/n, "s/publish")
	b.ReportMetric(update.Seconds()/n, "s/update")
	b.ReportMetric(restart.Seconds()/n, "s/restart")
	b.ReportMetric(update.Seconds()/restart.Seconds(), "update/restart")
	b.ReportMetric(float64(l.failed.Load()), "failed-requests")
	b.ReportMetric(float64(l.ok.Load()+l.failed.Load()), "requests")
	if l.failed.Load() > 0 {
		b.Errorf("%d requests failed: %v", l.failed.Load(), l.errs[:min(len(l.errs), 5)])
	}
}
