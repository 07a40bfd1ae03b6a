package awsproto

import (
	"context"
	"crypto/tls"
	"net"
)

// A streamed response (SubscribeToShard) holds a claim for as long as its
// client listens, so the server must know promptly when the client is
// gone. net/http cancels a request's context when it sees the connection
// closed (HTTP/1.1: its background read after the request body hits EOF)
// or the stream reset (HTTP/2), but it sees that on a goroutine of its
// own: a client that closes a connection and at once sends a new request
// on another can have the new request served first. ClientGone also asks
// the kernel, which has the first connection's FIN (or RST) before the
// second connection's bytes.

type connKey struct{}

// WithConn returns a context carrying the connection a request arrives on,
// for http.Server.ConnContext.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// ClientGone reports whether the client of the request whose context is
// ctx is known to be gone: the context is done, or the request's
// connection (see WithConn) was closed or reset by the peer. A connection
// with unread bytes waiting counts as open.
func ClientGone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	c, _ := ctx.Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	return c != nil && peerClosed(c)
}
