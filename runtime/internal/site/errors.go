package site

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/websonic/websonic/internal/i18n"
)

// Errors returned by Store and shown, in friendlier words, on the forms.
// They are returned as is or wrapped with %w; test with errors.Is.
var (
	ErrInvalidUsername = errors.New("site: username must be 3 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	ErrUsernameTaken   = errors.New("site: username is taken")
	// ErrWeakPassword matches every *PasswordError.
	ErrWeakPassword       = errors.New("site: password does not meet the password policy")
	ErrInvalidDisplayName = errors.New("site: display name must be 1 to 64 characters without control characters")
	ErrInvalidEmail       = errors.New("site: invalid email address")
	ErrInvalidRole        = errors.New("site: role must be admin, staff, auditor or member")
	ErrUnknownUser        = errors.New("site: unknown user")
	ErrWrongPassword      = errors.New("site: wrong password")
	// ErrRateLimited matches every *RateLimitError.
	ErrRateLimited = errors.New("site: too many login attempts")
	ErrLastAdmin   = errors.New("site: cannot remove the last admin")
	// ErrBanned: the account is banned.
	ErrBanned = errors.New("site: this account is banned")
	// ErrSuspended matches every *SuspendedError.
	ErrSuspended = errors.New("site: this account is suspended")
	// ErrAddressBlocked: sign-ins and registrations from the client's
	// address are refused (a block, or a banned user's address).
	ErrAddressBlocked = errors.New("site: sign-ins and registrations from this address are blocked")
	// ErrProtected: a module may not do this (to an admin, staff or an
	// auditor, or with the admin or auditor role).
	ErrProtected = errors.New("site: modules may not do this: admins, staff and auditors are the site owner's to manage")
	// ErrNotYours: a module may lift or replace only the bans and blocks
	// it placed itself, and never shortens a suspension.
	ErrNotYours = errors.New("site: placed by someone else: a module may change only its own bans and blocks, and never shortens a suspension")
	// ErrInvalidReason: a reason over 500 characters, or with control
	// characters.
	ErrInvalidReason = errors.New("site: reason must be at most 500 characters without control characters")
	// ErrInvalidPrefix: not an address or CIDR prefix (with host bits
	// clear), or wider than a module may block.
	ErrInvalidPrefix = errors.New("site: invalid address or network")
	// ErrInvalidUntil: a time in the past, or further than allowed.
	ErrInvalidUntil = errors.New("site: the end time must be in the future (and, for a module, within its limit)")
	// ErrInvalidAuditQuery: an audit log filter or page that cannot be.
	ErrInvalidAuditQuery = errors.New("site: invalid audit log query")
	// ErrNoBlock: no block of exactly that prefix.
	ErrNoBlock = errors.New("site: no such block")
	// ErrTooManyBlocks: a module holds MaxModuleBlocks blocks in force.
	ErrTooManyBlocks = errors.New("site: the module holds as many IP blocks as a module may")
)

// SuspendedError is a sign-in of a suspended account; Until is when the
// suspension ends, Reason what whoever suspended it gave ("": none), which
// the sign-in form shows as text. It matches ErrSuspended.
type SuspendedError struct {
	Until  time.Time
	Reason string
}

func (e *SuspendedError) Error() string {
	return "site: this account is suspended until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrSuspended) true.
func (e *SuspendedError) Is(target error) bool { return target == ErrSuspended }

// PasswordReason says which rule of the password policy a password broke.
type PasswordReason int

// The rules of the password policy (see checkPassword).
const (
	PasswordTooShort    PasswordReason = iota + 1 // fewer than 15 characters
	PasswordTooLong                               // more than 1024 characters
	PasswordHasUsername                           // is or contains the username
	PasswordCommon                                // common, breached, or an obvious derivative
)

// PasswordError is a password the policy refuses. It matches ErrWeakPassword.
type PasswordError struct{ Reason PasswordReason }

func (e *PasswordError) Error() string {
	switch e.Reason {
	case PasswordTooShort:
		return fmt.Sprintf("site: password too short: use at least %d characters", minPasswordLen)
	case PasswordTooLong:
		return fmt.Sprintf("site: password too long: use at most %d characters", maxPasswordLen)
	case PasswordHasUsername:
		return "site: password must not contain the username"
	case PasswordCommon:
		return "site: password is too common: it is on a list of common or breached passwords, or is a sequence or repetition"
	}
	return ErrWeakPassword.Error()
}

// Is makes errors.Is(err, ErrWeakPassword) true.
func (e *PasswordError) Is(target error) bool { return target == ErrWeakPassword }

// RateLimitError is an attempt the login guard refused: Wait says how long
// until the next may go ahead. It matches ErrRateLimited.
type RateLimitError struct{ Wait time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("site: too many login attempts: try again in %s", e.Wait.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// retryAfter is the Retry-After value for err, in whole seconds (at least 1).
func retryAfter(err error) int {
	if e, ok := errors.AsType[*RateLimitError](err); ok {
		return max(1, int((e.Wait+time.Second-1)/time.Second))
	}
	return 60
}

// errMissingCredentials is a login form without username or password.
var errMissingCredentials = errors.New("site: username and password are required")

// httpStatus maps a domain error to its HTTP status: the one place that does.
func httpStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalidUsername), errors.Is(err, ErrWeakPassword),
		errors.Is(err, ErrInvalidDisplayName), errors.Is(err, ErrInvalidEmail),
		errors.Is(err, ErrInvalidRole), errors.Is(err, errMissingCredentials),
		errors.Is(err, ErrInvalidReason), errors.Is(err, ErrInvalidPrefix), errors.Is(err, ErrInvalidUntil):
		return http.StatusBadRequest
	case errors.Is(err, ErrBanned), errors.Is(err, ErrSuspended), errors.Is(err, ErrAddressBlocked),
		errors.Is(err, ErrProtected), errors.Is(err, ErrNotYours), errors.Is(err, ErrTooManyBlocks):
		return http.StatusForbidden
	case errors.Is(err, ErrNoBlock):
		return http.StatusNotFound
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrWrongPassword):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUsernameTaken), errors.Is(err, ErrLastAdmin):
		return http.StatusConflict
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// genericLoginMessage is the one message for an unknown user or a wrong
// password when Config.GenericLoginErrors is set.
var genericLoginMessage = i18n.Key("Wrong username or password.")

// formMessage is what a form shows for err, translated by p. Internal
// errors get a generic text: their details go to the log only.
func formMessage(p *i18n.Printer, err error) string {
	if e, ok := errors.AsType[*PasswordError](err); ok {
		switch e.Reason {
		case PasswordTooShort:
			return p.T("That password is too short: use at least {n} characters. Any characters work; a few unrelated words make a good password.", "n", minPasswordLen)
		case PasswordTooLong:
			return p.T("That password is too long: use at most {n} characters.", "n", maxPasswordLen)
		case PasswordHasUsername:
			return p.T("Your password must not contain your username.")
		case PasswordCommon:
			return p.T("That password is too easy to guess: it is a common or leaked password, a variation of one, or a sequence or repetition. Please choose another; a few unrelated words make a good password.")
		}
	}
	if e, ok := errors.AsType[*RateLimitError](err); ok {
		return p.T("Too many login attempts. Please wait {wait} and try again.", "wait", waitText(p, e.Wait))
	}
	if e, ok := errors.AsType[*SuspendedError](err); ok {
		until := e.Until.UTC().Format("2006-01-02 15:04")
		if e.Reason != "" {
			return p.T("This account is suspended until {until} (UTC), for this reason: “{reason}”. You can sign in again after that.",
				"until", until, "reason", e.Reason)
		}
		return p.T("This account is suspended until {until} (UTC). You can sign in again after that.", "until", until)
	}
	switch {
	case errors.Is(err, ErrInvalidUsername):
		return p.T("Usernames are 3 to 32 characters: letters a–z, digits, '.', '_' or '-', starting with a letter or digit.")
	case errors.Is(err, ErrUsernameTaken):
		return p.T("That username is already taken. Please choose another.")
	case errors.Is(err, ErrInvalidDisplayName):
		return p.T("Display names are 1 to 64 characters, without control characters.")
	case errors.Is(err, ErrInvalidEmail):
		return p.T("That email address does not look right. Use the form name@example.com, or leave it empty.")
	case errors.Is(err, ErrUnknownUser):
		return p.T("There is no account with that username.")
	case errors.Is(err, ErrWrongPassword):
		return p.T("Wrong password for that username.")
	case errors.Is(err, ErrRateLimited):
		return p.T("Too many login attempts. Please wait a minute and try again.")
	case errors.Is(err, errMissingCredentials):
		return p.T("Enter your username and password.")
	case errors.Is(err, ErrBanned):
		return p.T("This account is banned from the site.")
	case errors.Is(err, ErrAddressBlocked):
		return p.T("Sign-ins and registrations from your network are blocked on this site.")
	}
	return p.T("Something went wrong on our side. Please try again.")
}

// waitText says d in words, translated by p: "5 seconds", "2 minutes",
// "1 hour".
func waitText(p *i18n.Printer, d time.Duration) string {
	switch s := int((d + time.Second - 1) / time.Second); {
	case s < 60:
		return p.T("{n} seconds", "n", max(s, 1))
	case s < 3600:
		return p.T("{n} minutes", "n", (s+59)/60)
	default:
		return p.T("{n} hours", "n", (s+3599)/3600)
	}
}
