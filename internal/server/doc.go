// Package server is Millrace's composition root: from a validated
// config.Config it opens the storage engine, builds the domain and the API
// services, binds the listener and serves, and it stops all of that
// gracefully. The binary (internal/cli) and the in-process tests
// (servertest) start the very same server.
//
// Besides the AWS APIs, the listener answers GET and HEAD /health with 200
// and {"status":"ok"} once the server is ready. AWS requests are always POST,
// so the health check cannot collide with them: a POST to /health is routed
// like any other AWS request.
package server
