package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// The moderation commands (module.json's admin_commands; `websonic exec
// chat ban alice`, and the admin area). They act through the core user
// services (sdk.BanUser, sdk.SuspendUser, sdk.SetUserPassword,
// sdk.GrantRole, sdk.RealtimeConnections, sdk.RuntimeStatus), never on
// chat tables alone, so a ban or a kick holds on the whole site. The
// runtime audits every run (websonic.audit_log: "command.run" with the
// actor, the arguments and the outcome, and the user service's own entry,
// such as "user.ban" by module:chat); the chat's audit table adds what
// those lack and the moderation page shows: how many connections a ban or
// kick closed, what the kicked person was told, whether a password was
// generated (never the password).

func init() {
	sdk.Command("ban", cmdBan)
	sdk.Command("kick", cmdKick)
	sdk.Command("show_clients", cmdShowClients)
	sdk.Command("change_password", cmdChangePassword)
	sdk.Command("make_admin", cmdMakeAdmin)
	sdk.Command("threads", cmdThreads)
}

// Limits of the commands.
const (
	maxModerationReason = 500                                                         // characters of a ban or kick reason (the core's limit)
	maxKickSeconds      = 365 * 24 * 60 * 60                                          // a year: the longest suspension a module may impose
	passwordGroups      = 5                                                           // a generated password is five groups…
	passwordGroup       = 5                                                           // …of five characters (about 146 bits)
	passwordChars       = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/l/I
)

// target is a user a command acts on.
type target struct {
	ID       int64
	Username string
	admin    bool
	staff    bool // admins are staff too
	auditor  bool
}

// privileged names what makes the site's owner, not the chat, manage the
// account ("" for an ordinary member).
func (t target) privileged() string {
	switch {
	case t.admin:
		return "an admin"
	case t.staff:
		return "staff (a chat admin)"
	case t.auditor:
		return "an auditor"
	}
	return ""
}

// findTarget finds the user a command names.
func findTarget(ctx context.Context, username string) (target, error) {
	name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(username), "@"))
	if name == "" {
		return target{}, errors.New("name a user (their username)")
	}
	var t target
	err := sdk.DB().QueryRowContext(ctx, `SELECT id, username, 'admin' = ANY(roles), 'staff' = ANY(roles), 'auditor' = ANY(roles)
		FROM websonic_api.users WHERE lower(username) = lower($1)`, name).Scan(&t.ID, &t.Username, &t.admin, &t.staff, &t.auditor)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("there is no user %q", name)
	}
	if err != nil {
		return t, fmt.Errorf("find user %q: %w", name, err)
	}
	return t, nil
}

// serviceError explains a refusal of the core user services for action
// on t (a phrase with %s for the user: "ban %s", "set the password of
// %s"), passing the site's own reason on.
func serviceError(action string, t target, err error) error {
	var he *sdk.HostError
	if !errors.As(err, &he) {
		return fmt.Errorf("%s: %w", fmt.Sprintf(action, t.Username), err)
	}
	switch he.Code {
	case abi.HostErrDenied:
		if p := t.privileged(); p != "" {
			return fmt.Errorf("%s is %s: the site does not let the chat %s (%s); the site's owner manages such accounts",
				t.Username, p, fmt.Sprintf(action, "them"), he.Message)
		}
		return fmt.Errorf("the site refused to %s: %s", fmt.Sprintf(action, t.Username), he.Message)
	case abi.HostErrNotFound:
		return fmt.Errorf("there is no user %q any more", t.Username)
	case abi.HostErrInvalid:
		return fmt.Errorf("cannot %s: %s", fmt.Sprintf(action, t.Username), he.Message)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(action, t.Username), err)
}

// checkReason refuses a reason the core would refuse, with a clear word.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > maxModerationReason {
		return "", fmt.Errorf("a reason is at most %d characters", maxModerationReason)
	}
	for _, c := range reason {
		if c != '\n' && isControl(c) {
			return "", errors.New("a reason cannot hold control characters")
		}
	}
	return reason, nil
}

// commander is who runs a moderation action: the admin (ID 0: the site's
// owner at the terminal) and how ("command", "admin area"), as the chat's
// audit records it.
type commander struct {
	ID  int64
	Via string
}

func commanderOf(args sdk.Args) commander {
	c := commander{Via: "command"}
	if u := args.User(); u != nil {
		c.ID = u.ID
	}
	return c
}

// openConnections counts the user's realtime connections (-1 when they
// cannot be listed).
func openConnections(ctx context.Context, userID int64) int {
	conns, err := sdk.RealtimeConnections(ctx)
	if err != nil {
		return -1
	}
	n := 0
	for _, c := range conns {
		if c.UserID == userID {
			n++
		}
	}
	return n
}

func cmdBan(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	msg, err := banUser(ctx, commanderOf(args), args.String("user"), args.String("reason"))
	return sdk.Text(msg), err
}

// banUser bans a user for good, through the core (account disabled,
// sessions and sockets closed, their addresses refused at sign-in and
// registration), and says what was done.
func banUser(ctx context.Context, by commander, username, reason string) (string, error) {
	t, err := findTarget(ctx, username)
	if err != nil {
		return "", err
	}
	if reason, err = checkReason(reason); err != nil {
		return "", err
	}
	conns := openConnections(ctx, t.ID)
	if err := sdk.BanUser(ctx, t.ID, reason); err != nil {
		return "", serviceError("ban %s", t, err)
	}
	forceOffline(ctx, t.ID)
	if err := recordAudit(ctx, sdk.DB(), by.ID, "ban", map[string]any{
		"via": by.Via, "user": t.ID, "reason": reason, "connections_closed": conns,
	}); err != nil {
		sdk.Logger().Error("audit ban", "user", t.Username, "error", err)
	}
	return banSentence(t.Username, conns), nil
}

// banSentence says what a ban of username did, closing conns connections.
func banSentence(username string, conns int) string {
	return fmt.Sprintf("%s is banned for good: their account is disabled, their sessions and %s are closed, and no one can sign in "+
		"or register any more from the addresses they used (everyone behind a shared office address included). "+
		"`websonic admin unban %s` lifts both.",
		username, countConnections(conns), username)
}

func countConnections(n int) string {
	switch {
	case n < 0:
		return "connections"
	case n == 1:
		return "1 connection"
	}
	return strconv.Itoa(n) + " connections"
}

func cmdKick(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	msg, err := kickUser(ctx, commanderOf(args), args.String("user"), args.Int("seconds"), args.String("reason"))
	return sdk.Text(msg), err
}

// kickUser locks a user out for seconds (the core's suspension, which
// lifts itself), telling their open pages why first.
func kickUser(ctx context.Context, by commander, username string, seconds int64, reason string) (string, error) {
	t, err := findTarget(ctx, username)
	if err != nil {
		return "", err
	}
	if seconds < 1 || seconds > maxKickSeconds {
		return "", fmt.Errorf("seconds must be 1 to %d (a year)", maxKickSeconds)
	}
	if reason, err = checkReason(reason); err != nil {
		return "", err
	}
	// The core would refuse; refusing first keeps the person from being
	// told of a kick that does not happen.
	if p := t.privileged(); p != "" {
		return "", fmt.Errorf("%s is %s: the site does not let the chat suspend them; the site's owner manages such accounts", t.Username, p)
	}
	d := time.Duration(seconds) * time.Second
	until := time.Now().Add(d + time.Second - 1).UTC().Truncate(time.Second) // never before the suspension ends
	conns := openConnections(ctx, t.ID)
	// Their open pages hear it before the suspension closes them.
	publish(ctx, userTopic(t.ID), map[string]any{"kind": "kicked", "reason": reason, "until": until.Format(time.RFC3339)})
	if err := sdk.SuspendUser(ctx, t.ID, d, reason); err != nil {
		return "", serviceError("suspend %s", t, err)
	}
	forceOffline(ctx, t.ID)
	if err := recordAudit(ctx, sdk.DB(), by.ID, "kick", map[string]any{
		"via": by.Via, "user": t.ID, "seconds": seconds, "until": until.Format(time.RFC3339),
		"reason": reason, "connections_closed": conns,
	}); err != nil {
		sdk.Logger().Error("audit kick", "user", t.Username, "error", err)
	}
	told := "told why on their open pages"
	if reason == "" {
		told = "told until when on their open pages (no reason was given)"
	}
	return fmt.Sprintf("%s is locked out for %s, until %s: %s; %s closed. It lifts by itself.",
		t.Username, humanDuration(d), until.Format("2006-01-02 15:04:05 UTC"), told, countConnections(conns)), nil
}

// humanDuration says d in the largest units that keep it exact enough.
func humanDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 120:
		return plural(s, "second")
	case s < 2*3600:
		return plural(s/60, "minute") + restSeconds(s%60)
	case s < 2*86400:
		return plural(s/3600, "hour") + restMinutes(s%3600/60)
	}
	return plural(s/86400, "day") + restHours(s%86400/3600)
}

func restSeconds(s int64) string { return rest(s, "second") }
func restMinutes(m int64) string { return rest(m, "minute") }
func restHours(h int64) string   { return rest(h, "hour") }

func rest(n int64, unit string) string {
	if n == 0 {
		return ""
	}
	return " " + plural(n, unit)
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// clientRow is an open chat connection as show_clients and the moderation
// page list it.
type clientRow struct {
	User    string `json:"user"`
	Address string `json:"address"`
	Since   string `json:"since"`
	Rooms   string `json:"rooms"`
}

// chatClients lists the site's open connections that follow a chat topic
// (their rooms named), and how many others follow none.
func chatClients(ctx context.Context) ([]clientRow, int, error) {
	conns, err := sdk.RealtimeConnections(ctx)
	if err != nil {
		if errors.Is(err, sdk.ErrDenied) {
			return nil, 0, errors.New(`the site's owner has not approved the chat's user action "connections"`)
		}
		return nil, 0, fmt.Errorf("list connections: %w", err)
	}
	var ids []int64
	for _, c := range conns {
		for _, tp := range c.Topics {
			if id, ok := topicID(tp, topicRoomPrefix); ok {
				ids = append(ids, id)
			}
		}
	}
	names, err := roomNames(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	var rows []clientRow
	others := 0
	for _, c := range conns {
		if len(c.Topics) == 0 {
			others++
			continue
		}
		row := clientRow{User: "anonymous", Address: c.ClientIP, Since: clientSince(c.Since)}
		if c.UserID != 0 {
			row.User = fmt.Sprintf("%s (id %d)", c.Username, c.UserID)
		}
		var rooms []string
		for _, tp := range c.Topics {
			if id, ok := topicID(tp, topicRoomPrefix); ok {
				rooms = append(rooms, names[id])
			}
		}
		sort.Strings(rooms)
		row.Rooms = strings.Join(rooms, ", ")
		rows = append(rows, row)
	}
	return rows, others, nil
}

// clientSince is a connection's start (RFC 3339, as the runtime gives it)
// as people read it: UTC, to the second; anything else as it is.
func clientSince(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// roomNames names rooms for moderators: a room or group by its name, a dm
// by its two people.
func roomNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	for _, id := range ids {
		out[id] = "#" + strconv.FormatInt(id, 10) // gone meanwhile
	}
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT r.id, CASE WHEN r.kind = 'dm' THEN 'dm: ' || coalesce((SELECT string_agg(u.username, ' & ' ORDER BY u.username)
			FROM members m JOIN websonic_api.users u ON u.id = m.user_id WHERE m.room_id = r.id), '')
			WHEN r.kind = 'group' THEN 'group: ' || r.name ELSE r.name END
		FROM rooms r WHERE r.id = ANY($1::bigint[])`, int64Array(ids))
	if err != nil {
		return nil, fmt.Errorf("room names: %w", err)
	}
	if err := scanNames(rows, out); err != nil {
		return nil, fmt.Errorf("room names: %w", err)
	}
	return out, nil
}

func cmdShowClients(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	rows, _, err := chatClients(ctx)
	if err != nil {
		return sdk.Result{}, err
	}
	table := make([][]any, 0, len(rows))
	for _, r := range rows {
		table = append(table, []any{r.User, r.Address, r.Since, r.Rooms})
	}
	return sdk.Table([]string{"user", "address", "since", "rooms"}, table), nil
}

func cmdChangePassword(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	t, err := findTarget(ctx, args.String("user"))
	if err != nil {
		return sdk.Result{}, err
	}
	// The password is always generated here, never an argument: the
	// runtime records every command's arguments in its audit log, which
	// the site's auditors read.
	password, err := generatePassword(t.Username)
	if err != nil {
		return sdk.Result{}, err
	}
	if err := sdk.SetUserPassword(ctx, t.ID, password); err != nil {
		return sdk.Result{}, serviceError("set the password of %s", t, err)
	}
	by := commanderOf(args)
	if err := recordAudit(ctx, sdk.DB(), by.ID, "change_password", map[string]any{
		"via": by.Via, "user": t.ID, "generated": true,
	}); err != nil {
		sdk.Logger().Error("audit change_password", "user", t.Username, "error", err)
	}
	return sdk.Text(fmt.Sprintf("New password for %s: %s\nIt is shown this once and stored nowhere in clear: give it to them by a safe way. All their sessions have ended.",
		t.Username, password)), nil
}

// generatePassword makes a strong random password (crypto/rand) that the
// site's policy takes: groups of characters that cannot be mistaken for
// one another, without the username in it.
func generatePassword(username string) (string, error) {
	for {
		var b strings.Builder
		for g := range passwordGroups {
			if g > 0 {
				b.WriteByte('-')
			}
			for range passwordGroup {
				n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordChars))))
				if err != nil {
					return "", fmt.Errorf("generate a password: %w", err)
				}
				b.WriteByte(passwordChars[n.Int64()])
			}
		}
		pw := b.String()
		if username == "" || !strings.Contains(strings.ToLower(pw), strings.ToLower(username)) {
			return pw, nil
		}
	}
}

func cmdMakeAdmin(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	t, err := findTarget(ctx, args.String("user"))
	if err != nil {
		return sdk.Result{}, err
	}
	if t.staff {
		return sdk.Text(fmt.Sprintf("%s is already a chat admin (chat admins are the site's admins and staff).", t.Username)), nil
	}
	if err := fenceNewAdmin(ctx, t.ID); err != nil {
		return sdk.Result{}, err
	}
	if err := sdk.GrantRole(ctx, t.ID, "staff"); err != nil {
		return sdk.Result{}, serviceError("make %s a chat admin", t, err)
	}
	by := commanderOf(args)
	if err := recordAudit(ctx, sdk.DB(), by.ID, "make_admin", map[string]any{
		"via": by.Via, "user": t.ID, "role": "staff",
	}); err != nil {
		sdk.Logger().Error("audit make_admin", "user", t.Username, "error", err)
	}
	return sdk.Text(fmt.Sprintf("%s is now a chat admin: chat admins are the site's staff, so %s now has the site's staff role. "+
		"They see and enter every room, decide join requests and moderate. The site's admins can take the role back in the admin area.",
		t.Username, t.Username)), nil
}

// fenceNewAdmin fences, before userID becomes a chat admin (who reads
// every named room), each named room they cannot read yet, as fenceJoin
// does for a new member: their catch-up from an older last_id cannot
// replay what its members alone read (texts since deleted or edited).
func fenceNewAdmin(ctx context.Context, userID int64) error {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT r.id FROM rooms r WHERE r.kind = 'room'
		AND NOT (r.policy = 'everyone' AND r.archived_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id AND m.user_id = $1) ORDER BY r.id`, userID)
	if err != nil {
		return fmt.Errorf("rooms user %d cannot read yet: %w", userID, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := sdk.Unsubscribe(ctx, roomTopic(id), userID); err != nil {
			return fmt.Errorf("fence room %d for the new chat admin %d: %w", id, userID, err)
		}
	}
	return nil
}

func cmdThreads(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	st, err := sdk.RuntimeStatus(ctx)
	switch {
	case errors.Is(err, sdk.ErrDenied):
		return sdk.Result{}, errors.New(`the site's owner has not approved the chat's user action "status", which threads needs`)
	case errors.Is(err, sdk.ErrUnknownService):
		return sdk.Result{}, errors.New("this runtime does not report its status (it is older than the chat module)")
	case err != nil:
		return sdk.Result{}, fmt.Errorf("runtime status: %w", err)
	}
	return sdk.Text(formatStatus(st)), nil
}

// formatStatus writes what the runtime reports for people to read.
func formatStatus(st sdk.ServerStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Replica %s, running since %s\n", st.Replica, st.StartedAt)
	fmt.Fprintf(&b, "Goroutines: %d\n", st.Goroutines)
	fmt.Fprintf(&b, "Realtime connections: %d\n", st.Connections)
	p := st.DBPool
	fmt.Fprintf(&b, "Database pool: %d of %d connections open (%d in use, %d idle)\n", p.Total, p.Max, p.Acquired, p.Idle)
	mods := append([]sdk.ModuleStatus(nil), st.Modules...)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Name < mods[j].Name })
	fmt.Fprintf(&b, "Modules: %d\n", len(mods))
	for _, m := range mods {
		fmt.Fprintf(&b, "  %s %s: %d instances, %d busy, %d requests waiting\n", m.Name, m.Version, m.Instances, m.Busy, m.Queued)
	}
	return strings.TrimRight(b.String(), "\n")
}
