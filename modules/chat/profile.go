package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

// Profiles (API.md, "Presence and profiles"): a display name of the chat's
// own (the site's when empty), a short description and an avatar.
const (
	maxDisplayName = 60  // characters
	maxAbout       = 300 // characters
)

func init() {
	mux.HandleFunc("GET /chat/api/users/{username}", api(getProfile))
	mux.HandleFunc("PATCH /chat/api/profile", api(patchProfile))
	mux.HandleFunc("POST /chat/api/profile/avatar", api(postAvatar))
	mux.HandleFunc("DELETE /chat/api/profile/avatar", api(deleteAvatar))
	mux.HandleFunc("GET /chat/avatars/{userID}", serveAvatar)
}

// profile is a user's profile as the API answers it.
type profile struct {
	User     userRef `json:"user"`
	About    string  `json:"about"`
	Avatar   string  `json:"avatar"` // its URL, "" for none
	Presence string  `json:"presence"`
}

// profileOf reads a user's profile.
func profileOf(ctx context.Context, u userRef) (profile, error) {
	p := profile{User: u}
	var tag sql.NullString
	err := sdk.DB().QueryRowContext(ctx, `SELECT about, encode(sha256(avatar), 'hex') FROM profiles WHERE user_id = $1`, u.ID).
		Scan(&p.About, &tag)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("profile of %d: %w", u.ID, err)
	}
	if tag.Valid {
		p.Avatar = avatarURL(u.ID, tag.String)
	}
	if p.Presence, err = presenceOf(ctx, u.ID); err != nil {
		return p, err
	}
	return p, nil
}

// avatarURL is where a user's avatar is served; the version (its ETag)
// changes with the picture, so browsers and the runtime's cache may keep
// each URL's picture.
func avatarURL(userID int64, etag string) string {
	return "/chat/avatars/" + strconv.FormatInt(userID, 10) + "?v=" + etag[:min(len(etag), 16)]
}

func getProfile(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	ref, err := userByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return nil, err
	}
	return profileOf(r.Context(), ref)
}

// profileChange is the body of PATCH /chat/api/profile.
type profileChange struct {
	DisplayName *string `json:"display_name"`
	About       *string `json:"about"`
}

// check trims and validates the change.
func (c *profileChange) check() error {
	if c.DisplayName == nil && c.About == nil {
		return badRequest("Nothing to change: give a display_name or an about.")
	}
	if c.DisplayName != nil {
		s := strings.TrimSpace(*c.DisplayName)
		if err := checkProfileText("A display name", s, maxDisplayName, false); err != nil {
			return err
		}
		c.DisplayName = &s
	}
	if c.About != nil {
		s := strings.TrimSpace(*c.About)
		if err := checkProfileText("The description", s, maxAbout, true); err != nil {
			return err
		}
		c.About = &s
	}
	return nil
}

// checkProfileText refuses text over max characters, invalid UTF-8 and
// control characters (newlines and tabs only where multiline).
func checkProfileText(what, s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return badRequest(what + " must be valid text.")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return badRequest(fmt.Sprintf("%s is at most %d characters (this one has %d).", what, max, n))
	}
	for _, c := range s {
		if (multiline && (c == '\n' || c == '\t')) || !isControl(c) {
			continue
		}
		if multiline {
			return badRequest(what + " cannot hold control characters (line breaks and tabs are fine).")
		}
		return badRequest(what + " cannot hold line breaks, tabs or other control characters.")
	}
	return nil
}

// isControl reports control and format characters that have no place in
// a name: C0, C1, bidirectional overrides and isolates, zero-width marks
// other than joiners.
func isControl(c rune) bool {
	if unicode.IsControl(c) {
		return true
	}
	switch c {
	case 0x200B, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF:
		return true
	}
	return false
}

func patchProfile(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	var c profileChange
	if err := readJSON(r, &c); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	ctx := r.Context()
	_, err := sdk.DB().ExecContext(ctx, `
		INSERT INTO profiles (user_id, display_name, about) VALUES ($1, coalesce($2, ''), coalesce($3, ''))
		ON CONFLICT (user_id) DO UPDATE SET display_name = coalesce($2, profiles.display_name),
			about = coalesce($3, profiles.about), updated_at = now()`,
		u.ID, nullString(c.DisplayName), nullString(c.About))
	if err != nil {
		return nil, fmt.Errorf("update profile: %w", err)
	}
	return myProfile(ctx, u)
}

// myProfile reads the request's user's profile.
func myProfile(ctx context.Context, u *sdk.User) (profile, error) {
	ref, err := userByID(ctx, u.ID)
	if err != nil {
		return profile{}, err
	}
	return profileOf(ctx, ref)
}

func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func postAvatar(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	data, err := readAvatarUpload(r)
	if err != nil {
		return nil, err
	}
	img, err := processAvatar(data)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	_, err = sdk.DB().ExecContext(ctx, `
		INSERT INTO profiles (user_id, avatar, avatar_type) VALUES ($1, $2, 'image/png')
		ON CONFLICT (user_id) DO UPDATE SET avatar = $2, avatar_type = 'image/png', updated_at = now()`, u.ID, img)
	if err != nil {
		return nil, fmt.Errorf("store avatar: %w", err)
	}
	purgeAvatar(ctx, u.ID)
	return myProfile(ctx, u)
}

// readAvatarUpload reads the multipart field "avatar" of the request,
// in memory (the module has no disk), refusing more than maxAvatarBytes.
func readAvatarUpload(r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, badRequest("Send the avatar as multipart/form-data, in the field \"avatar\".")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("The upload is not readable multipart/form-data.")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, badRequest("Choose an image for your avatar (the field \"avatar\" is missing).")
		}
		if err != nil {
			return nil, badRequest("The upload is not readable multipart/form-data.")
		}
		if part.FormName() != "avatar" {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, maxAvatarBytes+1))
		part.Close()
		if err != nil {
			return nil, badRequest("The upload is incomplete.")
		}
		if len(data) > maxAvatarBytes {
			return nil, tooLarge("The image is over 1 MiB: an avatar is at most 1 MiB.")
		}
		return data, nil
	}
}

func deleteAvatar(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	if _, err := sdk.DB().ExecContext(r.Context(), `UPDATE profiles SET avatar = NULL, avatar_type = NULL, updated_at = now() WHERE user_id = $1`, u.ID); err != nil {
		return nil, fmt.Errorf("delete avatar: %w", err)
	}
	purgeAvatar(r.Context(), u.ID)
	return nil, nil
}

// purgeAvatar drops the runtime's cached copies of the avatar's URL
// without a version (those with one never change).
func purgeAvatar(ctx context.Context, userID int64) {
	if err := sdk.Purge(ctx, "/chat/avatars/"+strconv.FormatInt(userID, 10)); err != nil {
		sdk.Logger().Warn("purge avatar", "user", userID, "error", err)
	}
}

// serveAvatar answers a user's avatar, to members only (the route's
// access): a PNG the module made itself, served so that no browser reads
// it as anything else.
func serveAvatar(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "userID")
	if err != nil {
		fail(w, r, notFound("No such avatar."))
		return
	}
	ctx := r.Context()
	var tag string
	err = sdk.DB().QueryRowContext(ctx, `SELECT encode(sha256(avatar), 'hex') FROM profiles WHERE user_id = $1 AND avatar IS NOT NULL`, id).Scan(&tag)
	if errors.Is(err, sql.ErrNoRows) {
		fail(w, r, notFound("This user has no avatar."))
		return
	}
	if err != nil {
		fail(w, r, fmt.Errorf("avatar of %d: %w", id, err))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	if sdk.NotModified(w, r, tag) {
		return
	}
	var img []byte
	err = sdk.DB().QueryRowContext(ctx, `SELECT avatar FROM profiles WHERE user_id = $1 AND encode(sha256(avatar), 'hex') = $2`, id, tag).Scan(&img)
	if errors.Is(err, sql.ErrNoRows) { // changed meanwhile: the next request has the new one
		h.Set("Cache-Control", "no-store")
		fail(w, r, notFound("This user has no avatar."))
		return
	}
	if err != nil {
		fail(w, r, fmt.Errorf("avatar of %d: %w", id, err))
		return
	}
	h.Set("Content-Type", "image/png")
	w.WriteHeader(http.StatusOK)
	w.Write(img)
}
