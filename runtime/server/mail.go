package server

import (
	"fmt"

	"github.com/websonic/websonic/runtime/internal/mail"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
)

// openMail starts the mail.send service on Config.Mail and registers it.
func (s *Server) openMail(services map[string]modhost.Service) error {
	mc := s.cfg.Mail
	mc.Logger, mc.Metrics = s.log.Named("mail"), s.reg
	m, err := mail.New(mc)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.mail = m
	services[abi.ServiceMail] = m
	if m.Configured() {
		s.log.Info("modules may send e-mail", "relay", m.Describe())
	}
	return nil
}

// CheckMail checks a mail relay and sender as Config.Mail takes them
// (relay URL, sender address, password, whether plain SMTP may go to
// another machine), so that a command can refuse a bad one before it
// starts anything. Its error never shows the password.
func CheckMail(relay, from, password string, insecureRemote bool) error {
	return mail.Check(mail.Config{Relay: relay, From: from, Password: password, AllowInsecureRemote: insecureRemote})
}
