package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"time"
)

// rawConn is one worker's keep-alive HTTP/1.1 connection for the raw
// client's puts. net/http's client costs more CPU per call than the server
// spends answering a single PutRecord (connection pool, header maps, a
// goroutine per connection); on a machine the server shares, that would
// measure the client. rawConn writes the request head and body with one
// writev and reads the response in place. It speaks just what the puts
// need: POST with Content-Length, a response with Content-Length or
// chunked encoding, and "Connection: close".
type rawConn struct {
	addr string
	host string
	conn net.Conn
	r    *bufio.Reader
	head []byte // request line and headers, ending in the blank line
	// headFor identifies what head was built for.
	headSigned time.Time
	headLen    int
	body       []byte // response body buffer, reused
}

// rawCallTimeout bounds one call, so that a server that stops answering
// fails the run instead of hanging it.
const rawCallTimeout = 60 * time.Second

func newRawConn(addr, host string) *rawConn {
	return &rawConn{addr: addr, host: host}
}

// buildHead writes the request head for a body of n bytes with the signed
// headers.
func (c *rawConn) buildHead(headers http.Header, signed time.Time, n int) {
	if c.head != nil && c.headSigned.Equal(signed) && c.headLen == n {
		return
	}
	var b bytes.Buffer
	b.WriteString("POST / HTTP/1.1\r\nHost: ")
	b.WriteString(c.host)
	b.WriteString("\r\n")
	for k, vs := range headers {
		if http.CanonicalHeaderKey(k) == "Host" || http.CanonicalHeaderKey(k) == "Content-Length" {
			continue
		}
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("Content-Length: ")
	b.WriteString(strconv.Itoa(n))
	b.WriteString("\r\n\r\n")
	c.head, c.headSigned, c.headLen = b.Bytes(), signed, n
}

// do sends body with the prepared head and returns the response status,
// the error type header of an error response, and the body (valid until
// the next call). Any failure closes the connection; the next call dials
// again.
func (c *rawConn) do(body []byte) (status int, errType string, resp []byte, err error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 10*time.Second)
		if err != nil {
			return 0, "", nil, err
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c.conn = conn
		c.r = bufio.NewReaderSize(conn, 64<<10)
	}
	c.conn.SetDeadline(time.Now().Add(rawCallTimeout))
	bufs := net.Buffers{c.head, body}
	if _, err = bufs.WriteTo(c.conn); err == nil {
		status, errType, resp, err = c.readResponse()
	}
	if err != nil {
		c.close()
	}
	return status, errType, resp, err
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.r = nil, nil
	}
}

var errBadResponse = errors.New("malformed HTTP response")

func (c *rawConn) readResponse() (status int, errType string, body []byte, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, "", nil, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, "", nil, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", nil, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	length, chunked, closeAfter := -1, false, false
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, "", nil, err
		}
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, "", nil, fmt.Errorf("%w: header line %q", errBadResponse, line)
		}
		v = bytes.TrimSpace(v)
		switch textproto.CanonicalMIMEHeaderKey(string(k)) {
		case "Content-Length":
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, "", nil, fmt.Errorf("%w: Content-Length %q", errBadResponse, v)
			}
		case "Transfer-Encoding":
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case "Connection":
			closeAfter = bytes.EqualFold(v, []byte("close"))
		case "X-Amzn-Errortype":
			errType = string(v)
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		for {
			line, err := c.readLine()
			if err != nil {
				return 0, "", nil, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil || size < 0 || size > 64<<20 {
				return 0, "", nil, fmt.Errorf("%w: chunk size %q", errBadResponse, line)
			}
			if size == 0 {
				// Trailers, then the blank line.
				for {
					if line, err = c.readLine(); err != nil {
						return 0, "", nil, err
					}
					if len(line) == 0 {
						break
					}
				}
				break
			}
			if c.body, err = readN(c.r, c.body, int(size)); err != nil {
				return 0, "", nil, err
			}
			if line, err = c.readLine(); err != nil || len(line) != 0 {
				return 0, "", nil, fmt.Errorf("%w: chunk not followed by CRLF", errBadResponse)
			}
		}
	case length >= 0:
		if c.body, err = readN(c.r, c.body, length); err != nil {
			return 0, "", nil, err
		}
	default:
		// Neither: the body runs to the end of the connection.
		rest, err := io.ReadAll(c.r)
		if err != nil {
			return 0, "", nil, err
		}
		c.body = append(c.body, rest...)
		closeAfter = true
	}
	if closeAfter {
		c.close()
	}
	return status, errType, c.body, nil
}

// readLine returns one header line without its CRLF (valid until the next
// read).
func (c *rawConn) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header line too long", errBadResponse)
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func readN(r io.Reader, dst []byte, n int) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	if _, err := io.ReadFull(r, dst[start:]); err != nil {
		return nil, err
	}
	return dst, nil
}
