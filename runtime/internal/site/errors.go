package site

import (
	"errors"
	"net/http"
)

// Errors returned by Store and shown, in friendlier words, on the forms.
// They are returned as is or wrapped with %w; test with errors.Is.
var (
	ErrInvalidUsername    = errors.New("site: username must be 3 to 32 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	ErrUsernameTaken      = errors.New("site: username is taken")
	ErrWeakPassword       = errors.New("site: password must be 10 to 1024 characters and must not be the username")
	ErrInvalidDisplayName = errors.New("site: display name must be 1 to 64 characters without control characters")
	ErrInvalidEmail       = errors.New("site: invalid email address")
	ErrInvalidRole        = errors.New("site: role must be admin, staff or member")
	ErrUnknownUser        = errors.New("site: unknown user")
	ErrWrongPassword      = errors.New("site: wrong password")
	ErrRateLimited        = errors.New("site: too many login attempts")
	ErrLastAdmin          = errors.New("site: cannot remove the last admin")
)

// errMissingCredentials is a login form without username or password.
var errMissingCredentials = errors.New("site: username and password are required")

// httpStatus maps a domain error to its HTTP status: the one place that does.
func httpStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalidUsername), errors.Is(err, ErrWeakPassword),
		errors.Is(err, ErrInvalidDisplayName), errors.Is(err, ErrInvalidEmail),
		errors.Is(err, ErrInvalidRole), errors.Is(err, errMissingCredentials):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrWrongPassword):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUsernameTaken), errors.Is(err, ErrLastAdmin):
		return http.StatusConflict
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// formMessage is what a form shows for err. Internal errors get a generic
// text: their details go to the log only.
func formMessage(err error) string {
	switch {
	case errors.Is(err, ErrInvalidUsername):
		return "Usernames are 3 to 32 characters: letters a–z, digits, '.', '_' or '-', starting with a letter or digit."
	case errors.Is(err, ErrUsernameTaken):
		return "That username is already taken. Please choose another."
	case errors.Is(err, ErrWeakPassword):
		return "Passwords need at least 10 characters (any characters; a few words make a good one), at most 1024, and must not be your username."
	case errors.Is(err, ErrInvalidDisplayName):
		return "Display names are 1 to 64 characters, without control characters."
	case errors.Is(err, ErrInvalidEmail):
		return "That email address does not look right. Use the form name@example.com, or leave it empty."
	case errors.Is(err, ErrUnknownUser):
		return "There is no account with that username."
	case errors.Is(err, ErrWrongPassword):
		return "Wrong password for that username."
	case errors.Is(err, ErrRateLimited):
		return "Too many login attempts. Please wait a minute and try again."
	case errors.Is(err, errMissingCredentials):
		return "Enter your username and password."
	}
	return "Something went wrong on our side. Please try again."
}
