package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/server"
)

// TestServeMailFlags: the relay, sender and password reach the runtime's
// config from flags or the environment (the password from
// WEBSONIC_MAIL_PASSWORD, off the command line); a bad relay stops serve
// before it starts anything, naming the flag and never the password.
func TestServeMailFlags(t *testing.T) {
	t.Setenv("WEBSONIC_MAIL_PASSWORD", "hunter2 secret")
	t.Setenv("WEBSONIC_MAIL_FROM", "Site <noreply@example.com>")
	fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	var l limits
	l.register(fs)
	if err := fs.parse([]string{"--mail-relay", "smtp://site@mail.example.com:587", "--mail-per-minute", "30"}); err != nil {
		t.Fatal(err)
	}
	if err := l.validate(); err != nil {
		t.Fatal(err)
	}
	var cfg server.Config
	l.apply(&cfg)
	if cfg.Mail.Relay != "smtp://site@mail.example.com:587" || cfg.Mail.From != "Site <noreply@example.com>" ||
		cfg.Mail.Password != "hunter2 secret" || cfg.Mail.PerMinute != 30 || cfg.Mail.Burst != 20 || cfg.Mail.AllowInsecureRemote {
		t.Fatalf("Mail = %+v", cfg.Mail)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mail-relay", "smtp+insecure://u@mail.example.com"}, "this machine"},
		{[]string{"--mail-relay", "smtps://u:hunter2@mail.example.com", "--mail-from", ""}, "sender address"},
		{[]string{"--mail-relay", "http://u:hunter2@mail.example.com"}, "scheme"},
		{[]string{"--mail-relay", "smtp://u:hunter2@mail.example.com", "--mail-burst", "0"}, "--mail-burst"},
	} {
		var stderr bytes.Buffer
		args := append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...)
		err := run(args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--mail") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: err = %v", tc.args, err)
		}
	}
	// Forced, plain SMTP may go to another machine.
	fs = newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	l = limits{}
	l.register(fs)
	if err := fs.parse([]string{"--mail-relay", "smtp+insecure://u@10.0.0.5:25", "--mail-relay-insecure-remote"}); err != nil {
		t.Fatal(err)
	}
	if err := l.validate(); err != nil {
		t.Fatal(err)
	}
}
