package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// userRef is a user as the chat shows them: the display name is the chat
// profile's when the user set one, the site's otherwise.
type userRef struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

// deletedUser stands for an author whose account was erased.
var deletedUser = userRef{Username: "", DisplayName: "deleted user"}

// Joining users: websonic_api.users is a security_barrier view, and
// PostgreSQL never pushes a join's condition through such a view, so
// "JOIN websonic_api.users u ON u.id = m.author_id" reads every user of the
// site for each row (10.5 ms of a 50-message page on a site of 2,000
// users). A LATERAL subquery with LIMIT 1 is not flattened, so its
// condition is a restriction, which does reach the users' primary key:
// the module joins users as
//
//	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x
//	                   WHERE x.id = m.author_id LIMIT 1) u ON true
//
// (0.43 ms for the same page; BENCHMARKS.md, Chat).

// userSelect reads userRef columns from websonic_api.users u with the
// chat profile p: append the WHERE clause.
const userSelect = `SELECT u.id, u.username, coalesce(nullif(p.display_name, ''), u.display_name)
	FROM websonic_api.users u LEFT JOIN profiles p ON p.user_id = u.id `

// otherNamed reads the request's {"username": NAME}, the user u acts on:
// 404 for no such user, 400 with self when it is u.
func otherNamed(r *http.Request, u *sdk.User, self string) (userRef, error) {
	var body struct {
		Username string `json:"username"`
	}
	if err := readJSON(r, &body); err != nil {
		return userRef{}, err
	}
	other, err := userByName(r.Context(), body.Username)
	if err != nil {
		return userRef{}, err
	}
	if other.ID == u.ID {
		return userRef{}, badRequest(self)
	}
	return other, nil
}

// userByName finds a user by username (case-insensitive), or answers 404.
func userByName(ctx context.Context, username string) (userRef, error) {
	username = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(username), "@"))
	if username == "" || len(username) > 64 {
		return userRef{}, badRequest("Give a username.")
	}
	var u userRef
	err := sdk.DB().QueryRowContext(ctx, userSelect+`WHERE lower(u.username) = lower($1)`, username).
		Scan(&u.ID, &u.Username, &u.DisplayName)
	if errors.Is(err, sql.ErrNoRows) {
		return userRef{}, notFound("There is no user " + username + ".")
	}
	return u, err
}

// userByID finds a user by id, or answers 404.
func userByID(ctx context.Context, id int64) (userRef, error) {
	var u userRef
	err := sdk.DB().QueryRowContext(ctx, userSelect+`WHERE u.id = $1`, id).Scan(&u.ID, &u.Username, &u.DisplayName)
	if errors.Is(err, sql.ErrNoRows) {
		return userRef{}, notFound("No such user.")
	}
	return u, err
}

// refOf is the request's user as a userRef (the site's display name).
func refOf(u *sdk.User) userRef {
	return userRef{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName}
}
