package main

// One keep-alive HTTP/1.1 connection, as the Python driver's Client: POST a
// body, read the whole answer, and reopen the connection once when it was
// found reset or closed (ECONNRESET, EPIPE, ECONNREFUSED, ECONNABORTED, the
// server closing before it answered, a status line that is not HTTP). Any
// other failure (a timeout, an answer cut short mid-body) is returned as it
// is. net/http is not used: its transport hands each response between
// goroutines and reads headers into maps, costs this client would time.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

type httpConn struct {
	addr       string
	timeout    time.Duration
	conn       *net.TCPConn
	r          *bufio.Reader
	head       []byte // request line and headers, rebuilt per request
	body       []byte // the last answer's body (reused: copy what must outlive it)
	vec        net.Buffers
	reconnects int
}

func newHTTPConn(addr string, timeout time.Duration) *httpConn {
	return &httpConn{addr: addr, timeout: timeout}
}

// statusError is an answer other than 200 (not retried, as in the Python driver).
type statusError struct {
	path   string
	status int
	body   []byte
}

func (e *statusError) Error() string {
	b := e.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("POST %s: HTTP %d: %s", e.path, e.status, pyBytesRepr(b))
}

// pyBytesRepr is Python's repr() of a bytes object, so an HTTP error reads the
// same from either client (the Python driver formats the body with !r).
func pyBytesRepr(b []byte) string {
	const hex = "0123456789abcdef"
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	out := []byte{'b', quote}
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			out = append(out, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return string(append(out, quote))
}

// retryable marks a failure that reopening the connection may cure.
type retryable struct{ err error }

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

func isRetryable(err error) bool {
	var r *retryable
	if errors.As(err, &r) {
		return true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNREFUSED, syscall.ECONNABORTED,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func (c *httpConn) connect() error {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	tcp := conn.(*net.TCPConn)
	if err := tcp.SetNoDelay(true); err != nil {
		tcp.Close()
		return err
	}
	c.conn = tcp
	if c.r == nil {
		c.r = bufio.NewReaderSize(tcp, 64<<10)
	} else {
		c.r.Reset(tcp)
	}
	return nil
}

func (c *httpConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// post sends parts (concatenated, they are the body) to path and returns the
// answer's body, valid until the next post.
func (c *httpConn) post(path string, parts ...[]byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		body, keep, err := c.exchange(path, parts)
		if err == nil {
			if !keep {
				c.close()
			}
			return body, nil
		}
		c.close()
		var se *statusError
		if errors.As(err, &se) || !isRetryable(err) || attempt == 1 {
			return nil, err
		}
		c.reconnects++
	}
}

func (c *httpConn) exchange(path string, parts [][]byte) ([]byte, bool, error) {
	if c.conn == nil {
		if err := c.connect(); err != nil {
			return nil, false, err
		}
	}
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, false, err
	}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	c.head = appendRequestHead(c.head[:0], c.addr, path, size)
	c.vec = append(c.vec[:0], c.head)
	c.vec = append(c.vec, parts...)
	vec := c.vec // WriteTo consumes the slice it is called on
	if _, err := vec.WriteTo(c.conn); err != nil {
		return nil, false, err
	}
	status, keep, err := c.readResponse()
	if err != nil {
		return nil, false, err
	}
	if status != 200 {
		return nil, keep, &statusError{path, status, append([]byte(nil), c.body...)}
	}
	return c.body, keep, nil
}

// appendRequestHead is the request line and headers http.client sends for
// conn.request("POST", path, body, HEADERS).
func appendRequestHead(dst []byte, host, path string, size int) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nAccept-Encoding: identity\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(size), 10)
	dst = append(dst, "\r\nContent-Type: application/json\r\nAccept: application/json\r\n\r\n"...)
	return dst
}

// readResponse reads one answer into c.body: its status and whether the
// connection may be kept.
func (c *httpConn) readResponse() (int, bool, error) {
	for {
		status, keep, err := readResponse(c.r, &c.body)
		if err != nil {
			return 0, false, err
		}
		if status >= 100 && status < 200 {
			continue // an interim answer; the real one follows
		}
		return status, keep, nil
	}
}

// readResponse parses one HTTP/1.x response from r, its body into *body.
func readResponse(r *bufio.Reader, body *[]byte) (status int, keep bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && (err == io.EOF || isRetryable(err)) {
			return 0, false, &retryable{fmt.Errorf("remote end closed connection without response")}
		}
		if err == io.EOF { // part of a status line, then the end
			return 0, false, &retryable{fmt.Errorf("bad status line %q", line)}
		}
		return 0, false, fmt.Errorf("reading the status line: %w", err)
	}
	line = bytes.TrimRight(line, "\r\n")
	var minor int
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 ")):
		minor, keep = 1, true
	case bytes.HasPrefix(line, []byte("HTTP/1.0 ")):
		minor, keep = 0, false
	default:
		return 0, false, &retryable{fmt.Errorf("bad status line %q", line)}
	}
	code := line[len("HTTP/1.1 "):]
	if len(code) < 3 {
		return 0, false, &retryable{fmt.Errorf("bad status line %q", line)}
	}
	status, err = strconv.Atoi(string(code[:3]))
	if err != nil || status < 100 || status > 999 {
		return 0, false, &retryable{fmt.Errorf("bad status line %q", line)}
	}
	length := int64(-1)
	chunked := false
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, false, fmt.Errorf("reading headers: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			return 0, false, fmt.Errorf("bad header line %q", h)
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, err = strconv.ParseInt(string(value), 10, 64)
			if err != nil || length < 0 {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if minor == 0 && bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	*body = (*body)[:0]
	switch {
	case status < 200 || status == 204 || status == 304:
		return status, keep, nil
	case chunked:
		err = readChunked(r, body)
	case length >= 0:
		err = readN(r, body, int(length))
	default: // no length: the body runs to the end of the connection
		keep = false
		*body, err = appendAll(r, *body)
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the body: %w", err)
	}
	return status, keep, nil
}

func readN(r *bufio.Reader, body *[]byte, n int) error {
	b := *body
	if cap(b) < n {
		b = make([]byte, n, n+n/4)
	}
	b = b[:n]
	*body = b
	_, err := io.ReadFull(r, b)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func appendAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func readChunked(r *bufio.Reader, body *[]byte) error {
	b := *body
	defer func() { *body = b }()
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if semi := bytes.IndexByte(line, ';'); semi >= 0 {
			line = line[:semi]
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, then the empty line
				t, err := r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		start := len(b)
		if cap(b)-start < int(size) {
			grown := make([]byte, start, 2*cap(b)+int(size))
			copy(grown, b)
			b = grown
		}
		b = b[:start+int(size)]
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return err
		}
		if _, err := r.Discard(2); err != nil { // the chunk's CRLF
			return err
		}
	}
}
