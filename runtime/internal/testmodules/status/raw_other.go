//go:build !wasip1

package main

func rawHost([]byte) []byte { return nil }
