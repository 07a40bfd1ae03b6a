package awsproto

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// eventuallyGone waits until ClientGone reports the client gone.
func eventuallyGone(t *testing.T, ctx context.Context) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ClientGone(ctx); {
		if time.Now().After(deadline) {
			t.Fatal("ClientGone is still false 10 s after the client left")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClientGone(t *testing.T) {
	if ClientGone(context.Background()) {
		t.Fatal("a context without a connection is gone")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !ClientGone(ctx) {
		t.Fatal("a cancelled request's client is not gone")
	}

	peek := runtime.GOOS == "linux" || runtime.GOOS == "darwin" || runtime.GOOS == "freebsd"
	t.Run("closed", func(t *testing.T) {
		server, client := tcpPair(t)
		ctx := WithConn(context.Background(), server)
		if ClientGone(ctx) {
			t.Fatal("an open connection is gone")
		}
		// Unread bytes waiting: still there (and not consumed).
		client.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
		if ClientGone(ctx) {
			t.Fatal("a connection with bytes waiting is gone")
		}
		var b [1]byte
		if n, err := server.Read(b[:]); n != 1 || b[0] != 'x' {
			t.Fatalf("the byte was consumed: %d, %v", n, err)
		}
		if !peek {
			return
		}
		client.Close()
		eventuallyGone(t, ctx)
	})
	t.Run("reset", func(t *testing.T) {
		if !peek {
			t.Skip("no socket peek on " + runtime.GOOS)
		}
		server, client := tcpPair(t)
		ctx := WithConn(context.Background(), server)
		server.Write([]byte("unread")) // closing with unread bytes sends RST
		time.Sleep(10 * time.Millisecond)
		client.Close()
		eventuallyGone(t, ctx)
	})
	t.Run("closed by the server", func(t *testing.T) {
		server, _ := tcpPair(t)
		ctx := WithConn(context.Background(), server)
		server.Close()
		if peek && !ClientGone(ctx) {
			t.Fatal("a connection the server closed is not gone")
		}
	})
}
