package main

import (
	"fmt"

	"github.com/websonic/websonic/runtime/server"
)

// mailFlags are the flags of `websonic serve` for the mail relay modules
// send e-mail through (server.Config.Mail, sdk/ABI.md section 19).
type mailFlags struct {
	relay, from, password string
	insecureRemote        bool
	perMinute, burst      int
}

func (m *mailFlags) register(fs *flagSet) {
	fs.StringVar(&m.relay, "mail-relay", "", "the mail relay modules allowed to send e-mail send it through: smtp://user@host:587 (STARTTLS required), smtps://user@host:465 (TLS) or smtp+insecure://localhost:25 (plain, for a relay on this machine); empty: modules cannot send e-mail (WEBSONIC_MAIL_RELAY)")
	fs.StringVar(&m.from, "mail-from", "", `the sender of modules' e-mail, e.g. "Site <noreply@example.com>"; required with --mail-relay (WEBSONIC_MAIL_FROM)`)
	fs.StringVar(&m.password, "mail-password", "", "the mail relay's password, instead of the one in --mail-relay's URL; prefer the environment variable (WEBSONIC_MAIL_PASSWORD)")
	fs.BoolVar(&m.insecureRemote, "mail-relay-insecure-remote", false, "let an smtp+insecure:// relay be on another machine: mail and password then cross the network unencrypted (WEBSONIC_MAIL_RELAY_INSECURE_REMOTE=true)")
	fs.IntVar(&m.perMinute, "mail-per-minute", 60, "e-mails each module may send a minute, in bursts of --mail-burst (WEBSONIC_MAIL_PER_MINUTE)")
	fs.IntVar(&m.burst, "mail-burst", 20, "e-mails a module may send at once after a quiet while (WEBSONIC_MAIL_BURST)")
	for _, f := range []struct{ flag, env string }{
		{"mail-relay", "WEBSONIC_MAIL_RELAY"}, {"mail-from", "WEBSONIC_MAIL_FROM"}, {"mail-password", "WEBSONIC_MAIL_PASSWORD"},
		{"mail-relay-insecure-remote", "WEBSONIC_MAIL_RELAY_INSECURE_REMOTE"}, {"mail-per-minute", "WEBSONIC_MAIL_PER_MINUTE"},
		{"mail-burst", "WEBSONIC_MAIL_BURST"},
	} {
		fs.fromEnv(f.flag, f.env)
	}
}

// validate refuses a relay or sender the runtime would refuse, before
// serve starts anything; its errors never show the password.
func (m *mailFlags) validate() error {
	if m.perMinute < 1 || m.perMinute > 100000 || m.burst < 1 || m.burst > 100000 {
		return fmt.Errorf("serve: --mail-per-minute %d, --mail-burst %d: want 1 to 100000", m.perMinute, m.burst)
	}
	if err := server.CheckMail(m.relay, m.from, m.password, m.insecureRemote); err != nil {
		return fmt.Errorf("serve: --mail-relay: %w", err)
	}
	return nil
}

// apply sets the relay in cfg.
func (m *mailFlags) apply(cfg *server.Config) {
	cfg.Mail.Relay, cfg.Mail.From, cfg.Mail.Password = m.relay, m.from, m.password
	cfg.Mail.AllowInsecureRemote = m.insecureRemote
	cfg.Mail.PerMinute, cfg.Mail.Burst = float64(m.perMinute), m.burst
}
