package mail

import (
	"io"
	"mime/quotedprintable"
	"strings"
)

// decodeQP undoes a part's transfer encoding.
func decodeQP(cte string, r io.Reader) io.Reader {
	if strings.EqualFold(cte, "quoted-printable") {
		return quotedprintable.NewReader(r)
	}
	return r
}
