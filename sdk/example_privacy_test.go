package sdk_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A module keeps phone numbers sealed (its manifest sets "seal": true):
// its database holds only ciphertext, which opens only for this module
// and this purpose.
func ExampleSeal() {
	save := func(ctx context.Context, db *sql.DB, userID int64, phone string) error {
		sealed, err := sdk.Seal(ctx, "phone", []byte(phone))
		if err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, `INSERT INTO phones (user_id, sealed) VALUES ($1, $2)
			ON CONFLICT (user_id) DO UPDATE SET sealed = $2`, userID, sealed)
		return err
	}
	load := func(ctx context.Context, db *sql.DB, userID int64) (string, error) {
		var sealed []byte
		if err := db.QueryRowContext(ctx, `SELECT sealed FROM phones WHERE user_id = $1`, userID).Scan(&sealed); err != nil {
			return "", err
		}
		phone, err := sdk.Open(ctx, "phone", sealed)
		return string(phone), err
	}
	_, _ = save, load

	// Outside the runtime there is no key.
	_, err := sdk.Seal(context.Background(), "phone", []byte("+1 555 0100"))
	fmt.Println(errors.Is(err, sdktest.ErrNotInRuntime))
	// Output: true
}

// A module takes part in the site's personal data exports and erasures.
// sdktest.Do sends the runtime's export call natively.
func ExampleUserData() {
	notes := map[int64][]string{7: {"buy milk"}}
	sdk.UserData(
		func(ctx context.Context, userID int64) (any, error) {
			return map[string]any{"notes": notes[userID]}, nil
		},
		func(ctx context.Context, userID int64) error {
			delete(notes, userID)
			return nil
		},
	)
	call := func(path string) {
		resp := sdktest.Do(httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"user_id": 7}`)), nil)
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(strings.TrimSpace(fmt.Sprint(resp.StatusCode, " ", string(body))))
	}
	call(abi.UserExportPath)
	call(abi.UserErasePath)
	call(abi.UserExportPath)
	// Output:
	// 200 {"notes":["buy milk"]}
	// 204
	// 200 {"notes":null}
}
