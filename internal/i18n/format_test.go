package i18n_test

import (
	"strings"
	"testing"
	"time"
)

// TestFormat checks that numbers, sizes, durations and dates read as each
// language writes them (no-break spaces shown as "_", French thousands'
// narrow no-break space as "·").
func TestFormat(t *testing.T) {
	c := catalog(t)
	at := time.Date(2026, time.November, 30, 14, 5, 59, 0, time.UTC)
	tests := []struct {
		name, lang string
		got        func(lang string) string
		want       string
	}{
		{"integer", "en", func(l string) string { return c.Printer(l).Number(12) }, "12"},
		{"integer", "fr", func(l string) string { return c.Printer(l).Number(12) }, "12"},
		{"thousands", "en", func(l string) string { return c.Printer(l).Number(int64(1234567)) }, "1,234,567"},
		{"thousands", "fr", func(l string) string { return c.Printer(l).Number(int64(1234567)) }, "1·234·567"},
		{"negative", "fr", func(l string) string { return c.Printer(l).Number(-1234) }, "-1·234"},
		{"fraction", "en", func(l string) string { return c.Printer(l).Number(0.25) }, "0.25"},
		{"fraction", "fr", func(l string) string { return c.Printer(l).Number(0.25) }, "0,25"},
		{"fraction trimmed", "fr", func(l string) string { return c.Printer(l).Number(2.5) }, "2,5"},
		{"whole float", "fr", func(l string) string { return c.Printer(l).Number(3.0) }, "3"},
		{"large float", "fr", func(l string) string { return c.Printer(l).Number(12345.678) }, "12·345,68"},
		{"other language", "de", func(l string) string { return c.Printer(l).Number(0.25) }, "0.25"},
		{"bytes", "en", func(l string) string { return c.Printer(l).Bytes(512) }, "512_B"},
		{"bytes", "fr", func(l string) string { return c.Printer(l).Bytes(512) }, "512_o"},
		{"kibibytes", "fr", func(l string) string { return c.Printer(l).Bytes(1024) }, "1_Kio"},
		{"mebibytes", "en", func(l string) string { return c.Printer(l).Bytes(15 << 19) }, "7.5_MiB"},
		{"mebibytes", "fr", func(l string) string { return c.Printer(l).Bytes(15 << 19) }, "7,5_Mio"},
		{"many mebibytes", "fr", func(l string) string { return c.Printer(l).Bytes(120 << 20) }, "120_Mio"},
		{"rounding up a unit", "en", func(l string) string { return c.Printer(l).Bytes(1<<30 - 1) }, "1_GiB"},
		{"gibibytes", "fr", func(l string) string { return c.Printer(l).Bytes(5 << 29) }, "2,5_Gio"},
		{"sub-millisecond", "en", func(l string) string { return c.Printer(l).Duration(250 * time.Microsecond) }, "0.25_ms"},
		{"sub-millisecond", "fr", func(l string) string { return c.Printer(l).Duration(250 * time.Microsecond) }, "0,25_ms"},
		{"milliseconds", "fr", func(l string) string { return c.Printer(l).Duration(7500 * time.Microsecond) }, "7,5_ms"},
		{"whole milliseconds", "fr", func(l string) string { return c.Printer(l).Duration(12*time.Millisecond + 300*time.Microsecond) }, "12_ms"},
		{"seconds", "fr", func(l string) string { return c.Printer(l).Duration(1500 * time.Millisecond) }, "1,5_s"},
		{"minutes", "en", func(l string) string { return c.Printer(l).Duration(125 * time.Second) }, "2_min 5_s"},
		{"whole minutes", "fr", func(l string) string { return c.Printer(l).Duration(2 * time.Minute) }, "2_min"},
		{"hours", "fr", func(l string) string { return c.Printer(l).Duration(3*time.Hour + 5*time.Minute) }, "3_h 5_min"},
		{"zero", "fr", func(l string) string { return c.Printer(l).Duration(0) }, "0_ms"},
		{"date", "en", func(l string) string { return c.Printer(l).Time(at) }, "Nov 30, 2026 14:05"},
		{"date", "fr", func(l string) string { return c.Printer(l).Time(at) }, "30 nov. 2026 14:05"},
		{"date months later", "fr", func(l string) string { return c.Printer(l).Time(at.AddDate(0, 3, 0)) }, "2 mars 2027 14:05"},
		{"zero time", "fr", func(l string) string { return c.Printer(l).Time(time.Time{}) }, ""},
	}
	show := strings.NewReplacer("\u00a0", "_", "\u202f", "·")
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.lang, func(t *testing.T) {
			if got := show.Replace(tt.got(tt.lang)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
