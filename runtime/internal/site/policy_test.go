package site

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		password, username string
		want               PasswordReason // 0: accepted
	}{
		{"password12", "bob", PasswordTooShort},
		{"1234567890", "bob", PasswordTooShort},
		{"fourteen chars", "bob", PasswordTooShort},
		{"ünïcödé-ñämé1", "bob", PasswordTooShort}, // 13 code points, more bytes
		{strings.Repeat("x", 1025), "bob", PasswordTooLong},
		{"alice in wonderland", "alice", PasswordHasUsername},
		{"ALICEALICEALICE1", "alice", PasswordHasUsername},
		{"1qaz2wsx3edc4rfv", "bob", PasswordCommon},          // on the list as is
		{"1QAZ2WSX3EDC4RFV", "bob", PasswordCommon},          // case-insensitively
		{"passwordpassword", "bob", PasswordCommon},          // a listed word, repeated
		{"password1234567", "bob", PasswordCommon},           // a listed word padded with digits
		{"!!!Sunshine2024!!!", "bob", PasswordCommon},        // and punctuation
		{"internationally", "bob", PasswordCommon},           // one common word
		{"123456789012345", "bob", PasswordCommon},           // a sequence
		{"987654321098765", "bob", PasswordCommon},           // backwards
		{"abcdefghijklmnop", "bob", PasswordCommon},          // the alphabet
		{"qwertyuiopasdfgh", "bob", PasswordCommon},          // a keyboard walk
		{"aaaaaaaaaaaaaaaa", "bob", PasswordCommon},          // one character
		{"abcabcabcabcabcabc", "bob", PasswordCommon},        // a short unit
		{"pass-word pass-word", "bob", PasswordCommon},       // separators do not hide it
		{"correct horse battery", "bob", 0},                  // words
		{"analytical-engine-1843", "ada", 0},                 // words and digits
		{"8274 1937 5520 6613", "bob", 0},                    // digits only, not a sequence: no composition rules
		{"tränenüberströmt-ästhetik", "bob", 0},              // any characters
		{strings.Repeat("ab1!", 256), "bob", PasswordCommon}, // 1024: long enough, but a repetition
		{"a-long-enough-password", "boss", 0},
	}
	for _, tt := range tests {
		t.Run(tt.password[:min(len(tt.password), 24)], func(t *testing.T) {
			err := checkPassword(tt.password, tt.username)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			pe, ok := errors.AsType[*PasswordError](err)
			if !ok || pe.Reason != tt.want || !errors.Is(err, ErrWeakPassword) {
				t.Fatalf("err = %v, want reason %d matching ErrWeakPassword", err, tt.want)
			}
		})
	}
}

// FuzzCheckPassword: the policy never panics, and what it accepts has the
// right length and does not contain the username.
func FuzzCheckPassword(f *testing.F) {
	f.Add("correct horse battery", "bob")
	f.Add("passwordpassword", "alice")
	f.Add("\xff\xfe\xfd"+strings.Repeat("é", 20), "abc")
	f.Fuzz(func(t *testing.T, password, username string) {
		err := checkPassword(password, username)
		if err != nil {
			if !errors.Is(err, ErrWeakPassword) {
				t.Fatalf("checkPassword(%q): %v is not a policy error", password, err)
			}
			return
		}
		if n := utf8.RuneCountInString(password); n < minPasswordLen || n > maxPasswordLen {
			t.Fatalf("accepted %q of %d characters", password, n)
		}
		if username != "" && strings.Contains(strings.ToLower(password), username) {
			t.Fatalf("accepted %q containing the username %q", password, username)
		}
	})
}

// TestAdminCreateUsesThePolicy: the store's CreateUser (which `websonic
// admin create` uses) refuses what the form refuses.
func TestAdminCreateUsesThePolicy(t *testing.T) {
	st := NewStore(newPool(t))
	for _, pw := range []string{"password12", "1234567890", "1qaz2wsx3edc4rfv"} {
		_, err := st.CreateUser(context.Background(), NewUser{Username: "boss", Password: pw, Role: RoleAdmin})
		if !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CreateUser with %q: %v, want a password policy error", pw, err)
		}
	}
}

// TestGenericLoginErrors: with the setting, an unknown user and a wrong
// password get the same status, the same page (but for the username typed
// back) and the same work: one database lookup and one password hash.
func TestGenericLoginErrors(t *testing.T) {
	for _, generic := range []bool{false, true} {
		t.Run(map[bool]string{false: "distinct", true: "generic"}[generic], func(t *testing.T) {
			e := newEnv(t, Config{GenericLoginErrors: generic}, nil)
			e.user("alice", goodPassword, RoleMember)
			type seen struct {
				status int
				body   string
				hashes int64
			}
			try := func(username string) seen {
				before := e.site.Store().hashed.Load()
				res := e.post(e.client(), "/login", url.Values{"username": {username}, "password": {"not the password"}})
				return seen{res.StatusCode, strings.ReplaceAll(res.body, `value="`+username+`"`, `value="X"`), e.site.Store().hashed.Load() - before}
			}
			wrong, unknown, invalid := try("alice"), try("nobody"), try("x")
			for name, s := range map[string]seen{"wrong password": wrong, "unknown user": unknown, "invalid username": invalid} {
				if s.status != http.StatusUnauthorized || s.hashes != 1 {
					t.Errorf("%s: status %d, %d hashes; want 401 after one hash", name, s.status, s.hashes)
				}
			}
			if !generic {
				if !strings.Contains(unknown.body, "There is no account with that username.") || !strings.Contains(wrong.body, "Wrong password for that username.") {
					t.Errorf("distinct messages missing:\n%s\n%s", unknown.body, wrong.body)
				}
				return
			}
			if !strings.Contains(wrong.body, genericLoginMessage) || wrong.body != unknown.body || wrong.body != invalid.body {
				t.Errorf("generic mode: pages differ or lack %q:\nwrong password:\n%s\nunknown user:\n%s", genericLoginMessage, wrong.body, unknown.body)
			}
		})
	}
}

// TestRegisterFormSaysThePolicy: the form asks for what the server
// requires, so that a browser's own check agrees with it.
func TestRegisterFormSaysThePolicy(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	res := e.get(e.client(), "/register")
	want := fmt.Sprintf(`minlength="%d"`, minPasswordLen)
	if res.StatusCode != 200 || !strings.Contains(res.body, want) || !strings.Contains(res.body, fmt.Sprintf("at least %d characters", minPasswordLen)) {
		t.Fatalf("GET /register: %d, no %s in the form:\n%s", res.StatusCode, want, res.body)
	}
}
