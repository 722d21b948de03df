package site

import (
	"context"
	"net/http"
)

// SessionKey names the session a request was made with, so that a
// connection that outlives its request (a realtime socket) can ask later
// whether that session still resolves to its user. It holds the session
// token in memory only (like the request's headers did) and is comparable
// to nothing: use Store.SessionKeyUser.
type SessionKey struct{ token []byte }

// SessionKey returns the key of r's session cookie; ok is false when r
// has none or a malformed one (then r is anonymous).
func (s *Site) SessionKey(r *http.Request) (key SessionKey, ok bool) {
	token, _ := s.cookieToken(r)
	if token == nil {
		return SessionKey{}, false
	}
	return SessionKey{token: token}, true
}

// SessionKeyUser returns the user the session resolves to now, through
// the same lookup as every request (an ended, expired or refused session
// gives nil), or nil for a zero key.
func (s *Store) SessionKeyUser(ctx context.Context, key SessionKey) (*User, error) {
	if key.token == nil {
		return nil, nil
	}
	return s.sessionUser(ctx, key.token)
}
