package main

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// userRef is a person as the desk shows them.
type userRef struct {
	ID          int64  `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
}

// Joining users: websonic_api.users is a security_barrier view, which a
// plain JOIN reads whole for every row; the module joins it as
//
//	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x
//	                   WHERE x.id = t.assignee_id LIMIT 1) a ON true
//
// whose condition reaches the users' primary key (sdk.DB's doc).

// userByName finds a user by username (case-insensitive), or answers 404.
func userByName(ctx context.Context, username string) (userRef, []string, error) {
	username = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(username), "@"))
	if username == "" || len(username) > 64 {
		return userRef{}, nil, badRequest("Give a username.")
	}
	var u userRef
	var roles string
	err := sdk.DB().QueryRowContext(ctx, `SELECT id, username, display_name, array_to_string(roles, ',')
		FROM websonic_api.users WHERE lower(username) = lower($1)`, username).Scan(&u.ID, &u.Username, &u.DisplayName, &roles)
	if errors.Is(err, sql.ErrNoRows) {
		return userRef{}, nil, notFound("There is no user " + username + ".")
	}
	return u, strings.Split(roles, ","), err
}
