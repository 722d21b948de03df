package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/modules/internal/jsonapi"
)

// Real bytes of each type, the smallest files DetectContentType knows.
var (
	pngBytes  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	jpegBytes = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9")
	gifBytes  = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	webpBytes = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	pdfBytes  = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
	zipBytes  = func() []byte {
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		f, _ := z.Create("readme.txt")
		f.Write([]byte("hello"))
		z.Close()
		return b.Bytes()
	}()
)

func status(err error) int {
	var e *jsonapi.Error
	if errors.As(err, &e) {
		return e.Status
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestCheckFileType(t *testing.T) {
	for _, c := range []struct {
		declared string
		data     []byte
		want     string // "" refused
	}{
		{"image/png", pngBytes, "image/png"},
		{"image/jpeg", jpegBytes, "image/jpeg"},
		{"image/gif", gifBytes, "image/gif"},
		{"image/webp", webpBytes, "image/webp"},
		{"application/pdf", pdfBytes, "application/pdf"},
		{"application/zip", zipBytes, "application/zip"},
		{"text/plain", []byte("hello\nworld é"), "text/plain"},
		{"text/plain; charset=UTF-8", []byte("hello"), "text/plain"},
		{"TEXT/CSV", []byte("a,b\n1,2\n"), "text/csv"},
		{"text/csv", []byte("<html><script>alert(1)</script>"), "text/csv"}, // text is text: served as text/csv, nosniff
		{"text/plain; charset=latin1", []byte("hello"), ""},
		{"text/plain", []byte("nul\x00inside"), ""},
		{"text/plain", []byte("\xff\xfe bad utf-8"), ""},
		{"image/png", jpegBytes, ""},
		{"image/jpeg", pngBytes, ""},
		{"application/pdf", []byte("not a pdf"), ""},
		{"application/zip", pdfBytes, ""},
		{"image/webp", []byte("RIFF\x1a\x00\x00\x00WAVEfmt "), ""},
		{"image/png", []byte("<svg onload=alert(1)>"), ""},
		{"image/svg+xml", []byte("<svg/>"), ""},
		{"text/html", []byte("<p>hi</p>"), ""},
		{"application/octet-stream", pngBytes, ""},
		{"", pngBytes, ""},
		{"image/png;;", pngBytes, ""},
	} {
		got, err := checkFileType(c.declared, c.data)
		if c.want == "" {
			if status(err) != http.StatusUnsupportedMediaType {
				t.Errorf("%q with %.10q: %q, %v; want 415", c.declared, c.data, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.declared, got, err, c.want)
		}
	}
}

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"shot.png":                  "shot.png",
		"  spaced name.txt ":        "spaced name.txt",
		"../../etc/passwd":          "passwd",
		`C:\Users\ann\report.pdf`:   "report.pdf",
		"dir/":                      "",
		"":                          "",
		"..":                        "",
		"a\x00b.txt":                "",
		"line\nbreak.txt":           "",
		"evil\u202egnp.exe":         "",
		"résumé 2026.pdf":           "résumé 2026.pdf",
		strings.Repeat("x", 200):    strings.Repeat("x", 200),
		strings.Repeat("x", 201):    "",
		strings.Repeat("é", 200):    strings.Repeat("é", 200),
		"quote\"and;semi.txt":       "quote\"and;semi.txt",
		"tab\there.txt":             "",
		"a/b\\c/" + "final name.md": "final name.md",
	} {
		got, err := cleanFileName(in)
		if want == "" {
			if status(err) != http.StatusBadRequest {
				t.Errorf("%q: %q, %v; want 400", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestFileHeaders(t *testing.T) {
	h := fileHeaders(`résumé "final"; x.pdf`, "application/pdf")
	want := map[string]string{
		"Content-Type":            "application/pdf",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Content-Disposition":     "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B%20x.pdf",
		"Cache-Control":           "private, no-store",
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: %q, want %q", k, h[k], v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("headers %v", h)
	}
	for typ, disp := range map[string]string{"image/png": "inline", "image/webp": "inline", "text/plain": "attachment", "application/zip": "attachment"} {
		h := fileHeaders("a.b", typ)
		if got := h["Content-Disposition"]; got != disp+"; filename*=UTF-8''a.b" {
			t.Errorf("%s: %q", typ, got)
		}
	}
	if got := fileHeaders("a.csv", "text/csv")["Content-Type"]; got != "text/csv; charset=utf-8" {
		t.Errorf("csv: %q", got)
	}
	// Every byte outside attr-char is encoded: no quote, no CR/LF, no
	// separator reaches the header.
	enc := rfc5987("a\r\nb'c%d*e`f")
	if enc != "a%0D%0Ab%27c%25d%2Ae`f" {
		t.Errorf("rfc5987: %q", enc)
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{1_000_000: "1 MB", 2_500_000: "2.5 MB", 2000: "2 kB", 1500: "1.5 kB", 999: "999 bytes", 1234: "1234 bytes"} {
		if got := sizeText(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}

func TestTranscript(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	solved := at.Add(time.Hour)
	tv := ticketView{ID: 12, Panel: panelRef{ID: 2, Name: "Problem <b>"}, Subject: "Printer </title><script>alert(1)</script>",
		Status: statusSolved, Opener: &userRef{ID: 5, Username: "carol", DisplayName: "Carol"}, CreatedAt: at, SolvedAt: &solved}
	msgs := []messageView{
		{Kind: "event", Event: json.RawMessage(`{"type":"opened"}`), Staff: false, CreatedAt: at},
		{Kind: "reply", Author: &userRef{Username: "carol", DisplayName: "Carol"}, Body: "It burns <script>alert(2)</script>\nsecond line", CreatedAt: at,
			Attachments: []attachmentRef{{ID: 1, Name: "fire<1>.png", Type: "image/png", Size: 2000}}},
		{Kind: "reply", Author: &userRef{Username: "sam", DisplayName: "sam"}, Staff: true, Body: "Unplug it.", CreatedAt: at.Add(time.Minute)},
		{Kind: "event", Author: &userRef{Username: "sam"}, Staff: true, Event: json.RawMessage(`{"type":"status","from":"open","to":"solved"}`), CreatedAt: solved},
		{Kind: "reply", Body: "by someone erased", CreatedAt: solved},
	}
	d := makeTranscript(tv, msgs, at.Add(2*time.Hour))
	var h bytes.Buffer
	if err := transcriptHTML.Execute(&h, d); err != nil {
		t.Fatal(err)
	}
	page := h.String()
	for _, bad := range []string{"<script", "<b>", "<1>", "src=", "href=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the HTML transcript holds %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(2)&lt;/script&gt;", "Problem &lt;b&gt;", "Carol (@carol)", "@sam, support",
		"fire&lt;1&gt;.png (2 kB)", "Status changed from open to solved.", "deleted user", "2030-01-02 04:04 UTC", "<style>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML transcript lacks %q", want)
		}
	}
	var txt bytes.Buffer
	d.writeText(&txt)
	text := txt.String()
	for _, want := range []string{"Ticket #12: Printer </title><script>alert(1)</script>\n", "Panel: Problem <b>\n", "Opened by: Carol (@carol)\n",
		"Status: solved\n", "Solved: 2030-01-02 04:04 UTC\n", "2030-01-02 03:04 UTC, Carol (@carol):\nIt burns <script>alert(2)</script>\nsecond line\n",
		"Attachments: fire<1>.png (2 kB)\n", "2030-01-02 03:05 UTC, @sam, support:\nUnplug it.\n", "the support desk:\nThe ticket was opened.\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text transcript lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Closed:") {
		t.Error("a solved ticket's transcript says closed")
	}
}

func TestEventSentence(t *testing.T) {
	for ev, want := range map[string]string{
		`{"type":"claimed","user":"bob"}`:                "@bob took the ticket.",
		`{"type":"merged_into","ticket":7}`:              "This ticket was merged into ticket #7.",
		`{"type":"status","from":"on_hold","to":"open"}`: "Status changed from on hold to open.",
		`{"type":"rated","score":4}`:                     "The customer rated the help 4 out of 5.",
		`{"type":"new-kind"}`:                            "The ticket changed.",
		`not json`:                                       "The ticket changed.",
	} {
		if got := eventSentence(json.RawMessage(ev)); got != want {
			t.Errorf("%s: %q, want %q", ev, got, want)
		}
	}
}

func TestCheckPanel(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	g := func(s string) *string { return &s }
	ok := panelInput{Name: " Billing ", Description: "Money\nmatters", FirstResponseMinutes: n(60), ResolutionMinutes: nil, Group: g("")}
	got, err := checkPanel(ok)
	if err != nil || got.Name != "Billing" || got.Group != nil || *got.MaxOpen != defaultMaxOpen || got.Fields == nil {
		t.Fatalf("%+v, %v", got, err)
	}
	for name, in := range map[string]panelInput{
		"empty name":       {Name: "  "},
		"long name":        {Name: strings.Repeat("n", 81)},
		"multiline name":   {Name: "a\nb"},
		"long description": {Name: "x", Description: strings.Repeat("d", 501)},
		"zero minutes":     {Name: "x", FirstResponseMinutes: n(0)},
		"a year and more":  {Name: "x", ResolutionMinutes: n(525601)},
		"max_open 0":       {Name: "x", MaxOpen: n(0)},
		"max_open 101":     {Name: "x", MaxOpen: n(101)},
		"bad group":        {Name: "x", Group: g("Not A Group")},
		"bad field":        {Name: "x", Fields: []field{{Name: "1x", Label: "L", Type: "text"}}},
		"far position":     {Name: "x", Position: 2_000_000},
	} {
		if _, err := checkPanel(in); status(err) != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", name, err)
		}
	}
	for s, want := range map[string]int64{"": 30, "1": 1, "3650": 3650} {
		if got, err := reportDays(s); err != nil || got != want {
			t.Errorf("days %q: %d %v", s, got, err)
		}
	}
	for _, s := range []string{"0", "3651", "-1", "x", "1.5"} {
		if _, err := reportDays(s); status(err) != http.StatusBadRequest {
			t.Errorf("days %q accepted", s)
		}
	}
}

// FuzzCleanFileName: whatever a client sends as a name, what is kept is
// 1 to 200 characters of valid UTF-8 with no path separator, control or
// format character, and its download header encodes it losslessly with
// attr-chars and %XX only.
func FuzzCleanFileName(f *testing.F) {
	for _, s := range []string{"shot.png", "../../x", `a\b`, "é\u202e.txt", "a\r\nb", strings.Repeat("x", 300), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := cleanFileName(s)
		if err != nil {
			if status(err) != http.StatusBadRequest {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		n := utf8.RuneCountInString(name)
		if !utf8.ValidString(name) || n < 1 || n > maxAttachmentName || strings.ContainsAny(name, `/\`) {
			t.Fatalf("%q kept as %q", s, name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("%q kept %U", s, r)
			}
		}
		enc := rfc5987(name)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if c == '%' {
				continue
			}
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
				t.Fatalf("%q encodes to %q", name, enc)
			}
		}
		if back, err := url.PathUnescape(enc); err != nil || back != name {
			t.Fatalf("%q encodes to %q, which decodes to %q, %v", name, enc, back, err)
		}
	})
}

// FuzzCheckFileType: an accepted upload is of an allowed type and its
// bytes are of that type; anything else is 415.
func FuzzCheckFileType(f *testing.F) {
	f.Add("image/png", pngBytes)
	f.Add("text/plain; charset=utf-8", []byte("hi"))
	f.Add("application/zip", zipBytes)
	f.Add("image/png; x=\"", []byte("<html>"))
	f.Fuzz(func(t *testing.T, declared string, data []byte) {
		typ, err := checkFileType(declared, data)
		if err != nil {
			if status(err) != http.StatusUnsupportedMediaType {
				t.Fatalf("%q: %v", declared, err)
			}
			return
		}
		if !slices.Contains(attachmentTypes, typ) || !contentMatches(typ, data) {
			t.Fatalf("%q accepted as %q", declared, typ)
		}
		if strings.HasPrefix(typ, "text/") && (!utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0) {
			t.Fatalf("text with binary accepted")
		}
	})
}
