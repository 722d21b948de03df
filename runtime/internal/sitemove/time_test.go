package sitemove

import (
	"io"
	"time"

	"filippo.io/age"
)

func mustTime() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func ageEncrypt(w io.Writer, r age.Recipient) (io.WriteCloser, error) { return age.Encrypt(w, r) }
