// Package sdktest runs a module's HTTP handler natively, under go test, so
// module authors can unit-test their handlers without building wasm.
//
// Do takes the handler the module installed with sdk.Handle (from its init
// function, as in the runtime) and sends it a request through the same path
// the runtime uses: the request is encoded as the runtime encodes it, passed
// as bytes to the SDK's dispatcher (which decodes it, runs the handler and
// encodes the response), and the response bytes are decoded and checked as
// the runtime checks them. Along the way Do applies the runtime's rules:
//
//   - connection-level headers (Connection, Transfer-Encoding, …) are not
//     forwarded in either direction, Content-Length is recomputed;
//   - the core site's session cookie ("websonic_session") is removed from
//     the Cookie header, and a Set-Cookie for it from the module is dropped;
//   - a request body over MaxRequestBytes is answered 413 without calling
//     the module;
//   - a response over MaxResponseBytes, or one the runtime could not decode
//     (a status outside 100-999), is answered 502.
//
// What Do does not do: it does not check the route's access level from the
// manifest (the runtime does, before the module sees a request), it runs
// without the runtime's deadline and memory limit, and a panic in the
// handler reaches the test (in the runtime it fails the request with a 500
// and the instance is replaced).
//
// Health calls the module's health check (sdk.HealthCheck) as the runtime
// does before a new version serves.
//
// # Pages rendered by the runtime
//
// A response made with sdk.Render is rendered as the runtime renders it:
// Do reads the page templates from assets/templates/ and the catalogues
// from assets/locales/ of the working directory (go test runs in the
// module's folder), once per test binary. The template's t translates into
// the language the request's Accept-Language picks among the catalogues
// (English otherwise; in the runtime the site's owner setting can also pick
// it), asset checks that the file exists in assets/ and answers it under
// AssetsPrefix. A missing template, data that is not a JSON object or a
// template that fails on its data is answered 500 with the error in the
// body; the runtime logs that error and answers 500 with the request id.
// The site's layout (sdk.SitePage) is not applied: the body is the
// module's fragment.
//
// # Database, configuration and logs
//
// Natively there is no host behind the SDK: sdk.DB's queries and
// sdk.Config fail with ErrNotInRuntime, and sdk.Logger's records are
// dropped. Keep the logic you want to unit-test apart from database calls,
// or test those handlers inside the runtime, against a real PostgreSQL: the
// runtime's own tests (runtime/internal/modhost) show how.
//
// # Concurrency
//
// Do is safe for concurrent use; like one module instance, it runs one
// request at a time. Install the handler (sdk.Handle) before calling Do, and
// not concurrently with it.
package sdktest
