package sdk

import (
	"net/url"
	"reflect"
	"testing"
)

// FuzzRequestURL: the fast path of requestURL gives exactly what
// url.ParseRequestURI gives, for every URI it takes.
func FuzzRequestURL(f *testing.F) {
	for _, s := range []string{"/", "/a/b?x=1&y=%zz", "/a%20b", "/p?", "//x/y", "/a?b?c", "*", "/é", "/a#f", "/a?b#c", "/(x)", "/a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got, gotErr := requestURL(uri)
		want, wantErr := url.ParseRequestURI(uri)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: err %v, want %v", uri, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %#v, want %#v", uri, got, want)
		}
	})
}
