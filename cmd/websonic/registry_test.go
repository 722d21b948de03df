package main

import (
	"fmt"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"", "[]", false},
		{"127.0.0.1", "[127.0.0.1/32]", false},
		{" 10.0.0.0/8 , ::1,192.168.1.7/24", "[10.0.0.0/8 ::1/128 192.168.1.0/24]", false},
		{"10.0.0.0/33", "", true},
		{"proxy.example", "", true},
	}
	for _, tt := range tests {
		got, err := parsePrefixes(tt.in)
		if (err != nil) != tt.err || (!tt.err && fmt.Sprint(got) != tt.want) {
			t.Errorf("parsePrefixes(%q) = %v, %v; want %s (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}
