package distribution

import (
	"errors"
	"net/http"

	"github.com/websonic/websonic/registry/internal/limit"
)

// Domain errors. Handlers wrap them with %w and detail; statusOf maps them to
// an OCI error code and an HTTP status, in one place.
var (
	ErrBlobUnknown         = errors.New("distribution: blob unknown to registry")
	ErrBlobUploadInvalid   = errors.New("distribution: blob upload invalid")
	ErrBlobUploadUnknown   = errors.New("distribution: blob upload unknown to registry")
	ErrDigestInvalid       = errors.New("distribution: provided digest did not match uploaded content")
	ErrManifestBlobUnknown = errors.New("distribution: manifest references a blob or manifest unknown to registry")
	ErrManifestInvalid     = errors.New("distribution: manifest invalid")
	ErrManifestUnknown     = errors.New("distribution: manifest unknown to registry")
	ErrNameInvalid         = errors.New("distribution: invalid repository name")
	ErrNameUnknown         = errors.New("distribution: repository name not known to registry")
	ErrSizeInvalid         = errors.New("distribution: provided length did not match content length")
	ErrRangeInvalid        = errors.New("distribution: requested range not satisfiable")
	ErrTagInvalid          = errors.New("distribution: invalid tag")
	ErrUnauthorized        = errors.New("distribution: authentication required")
	ErrDenied              = errors.New("distribution: requested access to the resource is denied")
	ErrUnsupported         = errors.New("distribution: the operation is unsupported")
	ErrPaginationInvalid   = errors.New("distribution: invalid number of results requested")
	ErrTooManyRequests     = errors.New("distribution: too many requests")
)

var errorTable = []struct {
	err    error
	code   string
	status int
}{
	{ErrBlobUnknown, "BLOB_UNKNOWN", http.StatusNotFound},
	{ErrBlobUploadInvalid, "BLOB_UPLOAD_INVALID", http.StatusBadRequest},
	{ErrBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	{ErrDigestInvalid, "DIGEST_INVALID", http.StatusBadRequest},
	{ErrManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	{ErrManifestInvalid, "MANIFEST_INVALID", http.StatusBadRequest},
	{ErrManifestUnknown, "MANIFEST_UNKNOWN", http.StatusNotFound},
	{ErrNameInvalid, "NAME_INVALID", http.StatusBadRequest},
	{ErrNameUnknown, "NAME_UNKNOWN", http.StatusNotFound},
	{ErrSizeInvalid, "SIZE_INVALID", http.StatusBadRequest},
	{ErrRangeInvalid, "RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable},
	{ErrTagInvalid, "TAG_INVALID", http.StatusBadRequest},
	{ErrUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized},
	{ErrDenied, "DENIED", http.StatusForbidden},
	{ErrUnsupported, "UNSUPPORTED", http.StatusMethodNotAllowed},
	{ErrPaginationInvalid, "PAGINATION_NUMBER_INVALID", http.StatusBadRequest},
	{ErrTooManyRequests, "TOOMANYREQUESTS", http.StatusTooManyRequests},
}

// statusOf maps an error to its OCI error code and HTTP status. ok is false
// for an unexpected (internal) error, whose text must not reach the client.
func statusOf(err error) (code string, status int, ok bool) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return "SIZE_INVALID", http.StatusRequestEntityTooLarge, true
	case errors.Is(err, limit.ErrSlowBody):
		return "SIZE_INVALID", http.StatusRequestTimeout, true
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code, e.status, true
		}
	}
	return "UNKNOWN", http.StatusInternalServerError, false
}
