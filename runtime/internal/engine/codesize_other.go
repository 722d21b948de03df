//go:build !linux

package engine

import "errors"

type span struct{ lo, hi uintptr }

func execSpans() ([]span, error)        { return nil, errors.New("engine: no /proc here") }
func added(before, after []span) []span { return nil }
func size([]span) int64                 { return 0 }
func fileBack(string, []span) error     { return nil }
func resident([]span) int64             { return -1 }
