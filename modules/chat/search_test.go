package main

import "testing"

func TestSearchTerms(t *testing.T) {
	for _, tc := range []struct {
		q, text string
		want    bool
	}{
		{"budget", "The Budget is due", true},
		{"budget", "nothing here", false},
		{"budget due", "due: the budget", true},
		{"budget late", "the budget is due", false},
		{`"the budget"`, "the budget", true},
		{"budget -draft", "budget final", true},
		{"budget -draft", "budget draft", false},
		{"budget or plan", "budget", false}, // "or" is ignored: both words needed
		{"ÉTÉ", "un été chaud", true},
		{"-only", "anything", false}, // nothing required: no match
		{`""`, "anything", false},
	} {
		if got := parseTerms(tc.q).match(tc.text); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.q, tc.text, got, tc.want)
		}
	}
}
