package abi_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

var hostCalls = []abi.HostCall{
	{},
	{Service: "realtime.publish", Payload: []byte(`{"topic":"chat.1","data":{}}`)},
	{Service: "x", Payload: bytes.Repeat([]byte("a"), 300)},
}

var hostReplies = []abi.HostReply{
	{},
	{Payload: []byte(`{"ok":true}`)},
	{Err: &abi.HostError{Code: abi.HostErrDenied, Message: "topic news.x is not declared"}},
	{Err: &abi.HostError{}},
}

func TestHostMessagesRoundTrip(t *testing.T) {
	for _, c := range hostCalls {
		var got abi.HostCall
		if err := got.Unmarshal(c.AppendMarshal(nil)); err != nil || got.Service != c.Service || !bytes.Equal(got.Payload, c.Payload) {
			t.Errorf("%+v: got %+v, %v", c, got, err)
		}
	}
	for _, r := range hostReplies {
		var got abi.HostReply
		if err := got.Unmarshal(r.AppendMarshal(nil)); err != nil || !eqHostReply(&got, &r) {
			t.Errorf("%+v: got %+v, %v", r, got, err)
		}
	}
}

// TestHostWireExamples pins the encodings ABI.md shows.
func TestHostWireExamples(t *testing.T) {
	for _, tc := range []struct {
		msg  interface{ AppendMarshal([]byte) []byte }
		want []byte
	}{
		{&abi.HostCall{Service: "a.b", Payload: []byte("{}")}, []byte{3, 'a', '.', 'b', 2, '{', '}'}},
		{&abi.HostReply{Payload: []byte("{}")}, []byte{0, 2, '{', '}'}},
		{&abi.HostReply{Err: &abi.HostError{Code: "denied", Message: "no"}}, []byte{1, 6, 'd', 'e', 'n', 'i', 'e', 'd', 2, 'n', 'o'}},
	} {
		if got := tc.msg.AppendMarshal(nil); !bytes.Equal(got, tc.want) {
			t.Errorf("%+v: % x, want % x", tc.msg, got, tc.want)
		}
	}
}

func eqHostCall(a, b *abi.HostCall) bool {
	return a.Service == b.Service && bytes.Equal(a.Payload, b.Payload)
}

func eqHostReply(a, b *abi.HostReply) bool {
	if (a.Err == nil) != (b.Err == nil) {
		return false
	}
	if a.Err != nil {
		return reflect.DeepEqual(a.Err, b.Err)
	}
	return bytes.Equal(a.Payload, b.Payload)
}

func FuzzHostCall(f *testing.F) {
	seed(f, "host call")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzMessage(t, data, eqHostCall) })
}

func FuzzHostReply(f *testing.F) {
	seed(f, "host reply")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzMessage(t, data, eqHostReply) })
}
