package manifest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

// FuzzDecode: Decode never panics, every error wraps ErrInvalid, and a
// manifest it accepts, marshalled again with encoding/json, decodes to an
// equal manifest (compared by its canonical JSON, which treats nil and
// empty lists alike) that marshals to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, minimal()))
	f.Add(encode(f, full()))
	for _, p := range []string{"../../examples/hello/module.json", "../../modules/chat/module.json", "../../modules/tickets/module.json"} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"manifest_version":1} {}`,
		`{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"routes":[{"path":"/a/../admin","access":"public"}]}}`,
		`{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"schedules":[{"name":"a","cron":"*/5,99 * * * *"}]}}`,
		`{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"config_schema":{"k":{"type":"string","default":"<\u00e9>"}}}}`,
		`{"manifest_version":1,"NAME":"ab","Version":"1.0.0","abi_version":1,"capabilities":{"config_schema":{"k":{"type":"integer","default":1.0}}}}`,
		`{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"outbound_http":["https://x:443/"]},"migrations":[]}`,
		`{"manifest_version":2,"name":"ab","version":"1.0.0","abi_version":2,"personal_data":[{"category":"m","purpose":"p","retention":"r","subjects":"users","fields":["t.c","t"]},{"category":"M","purpose":"p","retention":"r"}]}`,
		`{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"personal_data":[{"category":"\u00e9\u0000","purpose":" p","retention":"","fields":["a.b.c"],"extra":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m1, err := manifest.Decode(data)
		if err != nil {
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := m1.Validate(); err != nil {
			t.Fatalf("Decode returned a manifest that does not validate: %v", err)
		}
		b1, err := json.Marshal(m1)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if len(b1) > manifest.MaxSize {
			return // escaping grew it past the size limit
		}
		m2, err := manifest.Decode(b1)
		if err != nil {
			t.Fatalf("re-marshalled manifest does not decode: %v\n%s", err, b1)
		}
		b2, err := json.Marshal(m2)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("manifest changed in a round trip:\n%s\n%s", b1, b2)
		}
	})
}
