package sdk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// maxUserDataBody bounds the host's export and erase requests.
const maxUserDataBody = 4 << 10

// UserData registers the module's part in the site's personal data
// exports and erasures (sdk/ABI.md section 17). When the site owner
// exports a user's data, the runtime calls export and puts what it returns,
// encoded as JSON, into the archive as modules/<name>.json; when the owner
// erases a user, it calls erase, which must delete or anonymise everything
// the module keeps about the user, and be safe to call again (an erasure
// that failed somewhere is repeated). The core account is anonymised only
// after every module's erase succeeded. Either function may be nil: a nil
// export contributes nothing; a nil erase means the module keeps nothing
// about users. Call it once, from init.
func UserData(export func(ctx context.Context, userID int64) (any, error), erase func(ctx context.Context, userID int64) error) {
	hostcall.SetHandler(disp.serve) // a module may serve nothing else
	if export != nil {
		onHost(abi.UserExportPath, func(r *http.Request) (int, []byte) {
			id, status, msg := userDataID(r)
			if status != 0 {
				return status, []byte(msg)
			}
			v, err := export(r.Context(), id)
			if err != nil {
				return http.StatusInternalServerError, []byte(err.Error())
			}
			return jsonBody(http.StatusOK, v)
		})
	}
	if erase != nil {
		onHost(abi.UserErasePath, func(r *http.Request) (int, []byte) {
			id, status, msg := userDataID(r)
			if status != 0 {
				return status, []byte(msg)
			}
			if err := erase(r.Context(), id); err != nil {
				return http.StatusInternalServerError, []byte(err.Error())
			}
			return http.StatusNoContent, nil
		})
	}
}

// userDataID reads {"user_id": N} from the host's request.
func userDataID(r *http.Request) (int64, int, string) {
	var body struct {
		UserID int64 `json:"user_id"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxUserDataBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.UserID <= 0 {
		return 0, http.StatusBadRequest, "want {\"user_id\": N}"
	}
	return body.UserID, 0, ""
}
