package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
)

// Joining rooms and join requests (API.md, "Rooms" and "Join requests"):
// 'everyone' and 'open' rooms let anyone in at once, 'request' rooms make
// a request an admin approves or refuses, 'invite' rooms only an admin
// fills; admins enter any room at once.

func init() {
	mux.HandleFunc("POST /chat/api/rooms/{id}/join", api(joinRoom))
	mux.HandleFunc("GET /chat/api/requests/mine", api(myRequests))
	mux.HandleFunc("POST /chat/api/requests/{id}/cancel", api(cancelRequest))
	mux.HandleFunc("GET /chat/api/requests", api(requestQueue))
	mux.HandleFunc("POST /chat/api/requests/{id}/approve", api(approveRequest))
	mux.HandleFunc("POST /chat/api/requests/{id}/refuse", api(refuseRequest))
}

// Join request states.
const (
	statePending   = "pending"
	stateApproved  = "approved"
	stateRefused   = "refused"
	stateCancelled = "cancelled"
)

// roomRef names a room.
type roomRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// joinRequest is a join request (API.md, "Join requests").
type joinRequest struct {
	ID        int64      `json:"id"`
	Room      roomRef    `json:"room"`
	User      userRef    `json:"user"`
	State     string     `json:"state"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	DecidedAt *time.Time `json:"decided_at"`
}

// requestSelect reads joinRequest columns; append the WHERE clause.
const (
	requestCols = `SELECT jr.id, jr.room_id, r.name, jr.user_id, u.username,
		coalesce(nullif(p.display_name, ''), u.display_name), jr.state, jr.reason, jr.created_at, jr.decided_at`
	requestFrom = ` FROM join_requests jr JOIN rooms r ON r.id = jr.room_id
	LEFT JOIN LATERAL (SELECT x.username, x.display_name FROM websonic_api.users x WHERE x.id = jr.user_id LIMIT 1) u ON true
	LEFT JOIN profiles p ON p.user_id = jr.user_id `
	requestSelect = requestCols + requestFrom
)

func scanRequest(s interface{ Scan(...any) error }, extra ...any) (joinRequest, error) {
	var (
		q           joinRequest
		name, dname sql.NullString
		decided     sql.NullTime
	)
	err := s.Scan(append([]any{&q.ID, &q.Room.ID, &q.Room.Name, &q.User.ID, &name, &dname, &q.State, &q.Reason,
		&q.CreatedAt, &decided}, extra...)...)
	if err != nil {
		return q, err
	}
	q.User.Username, q.User.DisplayName = name.String, dname.String
	if !name.Valid {
		q.User = deletedUser
	}
	q.CreatedAt, q.DecidedAt = q.CreatedAt.UTC(), timePtr(decided)
	return q, nil
}

// requestByID reads join request id, or answers 404.
func requestByID(ctx context.Context, q querier, id int64) (joinRequest, error) {
	jr, err := scanRequest(q.QueryRowContext(ctx, requestSelect+`WHERE jr.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return jr, errNoRequest
	}
	if err != nil {
		return jr, fmt.Errorf("join request %d: %w", id, err)
	}
	return jr, nil
}

var errNoRequest = notFound("No such request.")

// announceRequest tells the admins of a new, cancelled or decided
// request, and its requester of a decision.
func announceRequest(ctx context.Context, jr joinRequest) {
	publish(ctx, topicAdmin, map[string]any{"kind": "request", "request": jr})
	if jr.State == stateApproved || jr.State == stateRefused {
		publish(ctx, userTopic(jr.User.ID), map[string]any{"kind": "request", "request": jr})
	}
}

func joinRoom(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	room, err := loadRoom(ctx, sdk.DB(), u, id)
	if err != nil {
		return nil, err
	}
	if !room.listed(u) && !(room.Kind == kindRoom && room.Policy == policyInvite && !room.Archived) {
		return nil, errNoRoom
	}
	switch {
	case room.Kind != kindRoom:
		return nil, conflict("You are in this conversation already.")
	case room.Archived:
		return nil, conflict("This room is archived: it is read-only.")
	case room.Member && room.Policy == policyEveryone:
		return map[string]any{"state": "member"}, nil
	case room.Member:
		return nil, conflict("You are in this room already.")
	}
	admin := isAdmin(u)
	if !admin && room.Policy == policyInvite {
		return nil, forbidden("Only an admin can add you to this room.")
	}
	if admin || room.Policy == policyEveryone || room.Policy == policyOpen {
		if err := fenceJoin(ctx, sdk.DB(), id, u.ID); err != nil {
			return nil, err
		}
		tx, err := sdk.DB().BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		added, approved, err := addToRoom(ctx, tx, room, u.ID)
		if err != nil {
			return nil, err
		}
		if added && admin && (room.Policy == policyRequest || room.Policy == policyInvite) {
			if err := recordAudit(ctx, tx, u.ID, "room.admin_join", map[string]any{"room": id}); err != nil {
				return nil, err
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		if added {
			announceApproved(ctx, approved)
			announceJoin(ctx, id, u.ID)
		}
		return map[string]any{"state": "member"}, nil
	}
	// A request room: an admin decides.
	var rid int64
	err = sdk.DB().QueryRowContext(ctx, `INSERT INTO join_requests (room_id, user_id) VALUES ($1, $2) RETURNING id`,
		id, u.ID).Scan(&rid)
	if isUniqueViolation(err) {
		return nil, conflict("You asked to join this room already: an admin will decide.")
	}
	if err != nil {
		return nil, fmt.Errorf("request to join room %d: %w", id, err)
	}
	jr, err := requestByID(ctx, sdk.DB(), rid)
	if err != nil {
		return nil, err
	}
	announceRequest(ctx, jr)
	return map[string]any{"state": statePending, "request": jr}, nil
}

func myRequests(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	rows, err := sdk.DB().QueryContext(r.Context(), requestSelect+`WHERE jr.user_id = $1 ORDER BY jr.id DESC LIMIT 50`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("list my requests: %w", err)
	}
	defer rows.Close()
	out := []joinRequest{}
	for rows.Next() {
		jr, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, jr)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return map[string]any{"requests": out}, nil
}

func cancelRequest(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	jr, err := requestByID(ctx, sdk.DB(), id)
	if err != nil {
		return nil, err
	}
	if jr.User.ID != u.ID {
		return nil, errNoRequest
	}
	res, err := sdk.DB().ExecContext(ctx, `UPDATE join_requests SET state = 'cancelled', decided_at = now()
		WHERE id = $1 AND state = 'pending'`, id)
	if err != nil {
		return nil, fmt.Errorf("cancel request %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, conflict("This request is not pending any more.")
	}
	if jr, err = requestByID(ctx, sdk.DB(), id); err == nil {
		announceRequest(ctx, jr)
	}
	return nil, nil
}

// userRequests is one user's pending requests in the admins' queue.
type userRequests struct {
	User     userRef       `json:"user"`
	Count    int           `json:"count"`
	Requests []joinRequest `json:"requests"`
}

// maxQueue bounds the requests the queue shows at once.
const maxQueue = 1000

// pendingQueue is the pending requests grouped by user: users with most
// requests first (one user asking for every room stands out), then the
// one whose oldest request is oldest; each user's requests oldest first.
func pendingQueue(ctx context.Context) ([]userRequests, error) {
	rows, err := sdk.DB().QueryContext(ctx, requestCols+`, jr.user_id`+requestFrom+`WHERE jr.state = 'pending'
		ORDER BY count(*) OVER (PARTITION BY jr.user_id) DESC, min(jr.created_at) OVER (PARTITION BY jr.user_id),
			jr.user_id, jr.created_at, jr.id
		LIMIT $1`, maxQueue)
	if err != nil {
		return nil, fmt.Errorf("the request queue: %w", err)
	}
	defer rows.Close()
	out := []userRequests{}
	var uid int64
	for rows.Next() {
		var who int64 // the requester's id, kept for an erased one too
		jr, err := scanRequest(rows, &who)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || who != uid {
			out = append(out, userRequests{User: jr.User})
			uid = who
		}
		g := &out[len(out)-1]
		g.Requests = append(g.Requests, jr)
		g.Count++
	}
	return out, rows.Err()
}

func requestQueue(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	q, err := pendingQueue(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"users": q}, nil
}

// decideRequest approves or refuses pending request id as admin u (the
// reason is told to the requester when refused).
func decideRequest(ctx context.Context, u *sdk.User, id int64, approve bool, reason string) (joinRequest, error) {
	if err := adminOnly(u); err != nil {
		return joinRequest{}, err
	}
	reason, err := checkText(reason, maxReason, true)
	if err != nil {
		return joinRequest{}, badRequest("A reason is at most 500 characters, without control characters.")
	}
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return joinRequest{}, err
	}
	defer tx.Rollback()
	var roomID, userID int64
	err = tx.QueryRowContext(ctx, `SELECT room_id, user_id FROM join_requests WHERE id = $1 AND state = 'pending' FOR UPDATE`,
		id).Scan(&roomID, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := requestByID(ctx, tx, id); err != nil {
			return joinRequest{}, err
		}
		return joinRequest{}, conflict("This request was decided or cancelled already.")
	}
	if err != nil {
		return joinRequest{}, fmt.Errorf("decide request %d: %w", id, err)
	}
	state, action := stateRefused, "request.refuse"
	if approve {
		state, action, reason = stateApproved, "request.approve", ""
	}
	_, err = tx.ExecContext(ctx, `UPDATE join_requests SET state = $2, reason = $3, decided_at = now(), decided_by = $4
		WHERE id = $1`, id, state, reason, u.ID)
	if err != nil {
		return joinRequest{}, fmt.Errorf("decide request %d: %w", id, err)
	}
	added := false
	if approve {
		if err := fenceJoin(ctx, tx, roomID, userID); err != nil {
			return joinRequest{}, err
		}
		if added, _, err = addToRoom(ctx, tx, &roomRow{ID: roomID}, userID); err != nil {
			return joinRequest{}, err
		}
	}
	detail := map[string]any{"request": id, "room": roomID, "user": userID}
	if reason != "" {
		detail["reason"] = reason
	}
	if err := recordAudit(ctx, tx, u.ID, action, detail); err != nil {
		return joinRequest{}, err
	}
	if err := tx.Commit(); err != nil {
		return joinRequest{}, err
	}
	jr, err := requestByID(ctx, sdk.DB(), id)
	if err != nil {
		return joinRequest{}, err
	}
	announceRequest(ctx, jr)
	if added {
		announceJoin(ctx, roomID, userID)
	}
	return jr, nil
}

func approveRequest(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return decideRequest(r.Context(), u, id, true, "")
}

// readOptionalJSON is readJSON for a body that may be left out (empty).
func readOptionalJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return badRequest("The request's body could not be read.")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return readJSON(r, v)
}

func refuseRequest(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if err := adminOnly(u); err != nil {
		return nil, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if err := readOptionalJSON(r, &body); err != nil {
		return nil, err
	}
	return decideRequest(r.Context(), u, id, false, body.Reason)
}
