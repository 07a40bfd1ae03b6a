package bench

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRawConnAgainstNetHTTP(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Host != "kinesis.test:1234" || r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecord" || r.ContentLength != int64(len(body)) {
			http.Error(w, "bad request head", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case "chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "error":
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.kinesis/")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Stream s not found."}`))
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("closing"))
		default:
			w.Write(append([]byte("echo "), body...))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := newRawConn(strings.TrimPrefix(srv.URL, "http://"), "kinesis.test:1234")
	defer c.close()
	h := http.Header{"X-Amz-Target": {"Kinesis_20131202.PutRecord"}, "Content-Type": {"application/x-amz-json-1.1"}}
	call := func(body string) (int, string, string) {
		t.Helper()
		c.buildHead(h, time.Unix(1, 0), len(body))
		status, errType, resp, err := c.do([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return status, errType, string(resp)
	}
	for _, body := range []string{"one", "two, a longer body", "chunked", "error", "three", "close", "four"} {
		status, errType, resp := call(body)
		switch body {
		case "chunked":
			if status != 200 || resp != "part one, part two" {
				t.Fatalf("chunked: %d %q", status, resp)
			}
		case "error":
			if status != 400 || !strings.HasPrefix(errType, "ResourceNotFoundException:") || !strings.Contains(resp, "not found") {
				t.Fatalf("error: %d %q %q", status, errType, resp)
			}
		case "close":
			if status != 200 || resp != "closing" || c.conn != nil {
				t.Fatalf("close: %d %q, connection kept: %v", status, resp, c.conn != nil)
			}
		default:
			if status != 200 || resp != "echo "+body {
				t.Fatalf("%s: %d %q", body, status, resp)
			}
		}
	}
	// One connection until the server closed it, then a second.
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestRawConnMalformedResponses(t *testing.T) {
	for name, resp := range map[string]string{
		"status line":    "HTTP/1.1 2x OK\r\n\r\n",
		"header":         "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"length":         "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
		"short body":     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"chunk size":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"chunk trailing": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.ReadFull(r, make([]byte, 4))
				io.WriteString(conn, resp)
			}()
			c := newRawConn(ln.Addr().String(), "h")
			c.buildHead(http.Header{}, time.Unix(1, 0), 4)
			if _, _, _, err := c.do([]byte("body")); err == nil {
				t.Fatalf("%q: no error", resp)
			}
			if c.conn != nil {
				t.Fatal("connection kept after a malformed response")
			}
		})
	}
}
