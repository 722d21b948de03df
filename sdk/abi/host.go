package abi

// HostCall is the input of ImportHost: one call of a named host service
// (ABI v2). Payload is the service's request, a JSON document whose shape
// the service defines (ABI.md, sections 11 on).
type HostCall struct {
	Service string
	Payload []byte
}

// HostReply is the result of ImportHost. Err is nil on success, and then
// Payload is the service's answer (a JSON document, possibly empty).
type HostReply struct {
	Err     *HostError
	Payload []byte
}

// HostError is a host service's refusal or failure. Code is one of the
// HostErr* values; Message says what happened, for a person.
type HostError struct {
	Code    string
	Message string
}

func (e *HostError) Error() string { return "websonic host: " + e.Code + ": " + e.Message }

// Codes of HostError.
const (
	// HostErrUnknown: the host has no such service (a newer SDK than the
	// runtime).
	HostErrUnknown = "unknown_service"
	// HostErrDenied: the module's manifest (as the owner approved it)
	// does not allow this.
	HostErrDenied = "denied"
	// HostErrInvalid: the request is malformed or breaks a rule of the
	// service (bad topic, size over a limit…).
	HostErrInvalid = "invalid"
	// HostErrLimit: a rate or quota of the service is exhausted.
	HostErrLimit = "limit"
	// HostErrNotFound: what the request names does not exist.
	HostErrNotFound = "not_found"
	// HostErrFailed: the service could not do it (database down,
	// remote server unreachable…); trying again later may work.
	HostErrFailed = "failed"
)

// AppendMarshal appends the encoding of c to b.
func (c *HostCall) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.str(c.Service)
	e.bytes(c.Payload)
	return e.b
}

// Unmarshal decodes b into c. Payload aliases b.
func (c *HostCall) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "host call"}
	c.Service = d.str("service")
	c.Payload = d.bytes("payload")
	return d.finish()
}

// AppendMarshal appends the encoding of r to b.
func (r *HostReply) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.boolean(r.Err != nil)
	if r.Err != nil {
		e.str(r.Err.Code)
		e.str(r.Err.Message)
		return e.b
	}
	e.bytes(r.Payload)
	return e.b
}

// Unmarshal decodes b into r. Payload aliases b.
func (r *HostReply) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "host reply"}
	r.Err, r.Payload = nil, nil
	if d.boolean("has_err") {
		r.Err = &HostError{Code: d.str("err.code"), Message: d.str("err.message")}
	} else {
		r.Payload = d.bytes("payload")
	}
	return d.finish()
}
