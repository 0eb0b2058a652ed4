package httpfast

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
)

// headEnd is the length of the head at the start of b, up to and with
// the blank line that ends it; 0 when b holds no whole head yet, and -1
// when what it holds cannot start a head of the fast shape (another
// method, or a line ended by a bare LF): the Fallback takes those at once.
func headEnd(b []byte) int {
	if len(b) >= len("POST ") && !bytes.HasPrefix(b, []byte("POST ")) {
		return -1
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end >= 0 {
		b = b[:end+4]
	}
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return -1
		}
		next := bytes.IndexByte(b[i+1:], '\n')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	if end < 0 {
		return 0
	}
	return end + 4
}

// parseRequest parses a head of the fast shape (see the package comment)
// into a request without a body, context or remote address; ok is false
// for every other head, which the Fallback is then given unread. The rules
// are stricter than net/http's, so that what is taken here is what
// net/http would take too, and read the same way.
func parseRequest(head []byte) (req *http.Request, ok bool) {
	if !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		return nil, false // a head cut short, or too large for the buffer
	}
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	target, found := bytes.CutPrefix(line, []byte("POST "))
	if !found {
		return nil, false
	}
	target, found = bytes.CutSuffix(target, []byte(" HTTP/1.1"))
	if !found || len(target) == 0 || target[0] != '/' || !visible(target) {
		return nil, false
	}
	uri := string(target)
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, false
	}
	header := make(http.Header, 8)
	host, hasHost := "", false
	length, hasLength := int64(0), false
	closeAfter := false
	for len(rest) > 2 { // what is left ends with the blank line
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !token(line[:colon]) {
			return nil, false // no name, a bad name, or obs-fold
		}
		value := bytes.Trim(line[colon+1:], " \t")
		if !fieldValue(value) {
			return nil, false
		}
		name := textproto.CanonicalMIMEHeaderKey(string(line[:colon]))
		switch name {
		case "Host":
			if hasHost {
				return nil, false
			}
			host, hasHost = string(value), true
			continue
		case "Content-Length":
			n, err := strconv.ParseInt(string(value), 10, 64)
			if hasLength || err != nil || n < 0 || !digits(value) {
				return nil, false
			}
			length, hasLength = n, true
		case "Connection":
			switch {
			case bytes.EqualFold(value, []byte("keep-alive")):
			case bytes.EqualFold(value, []byte("close")):
				closeAfter = true
			default:
				return nil, false // an upgrade, or hop-by-hop headers named
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Te", "Trailer":
			return nil, false
		}
		header[name] = append(header[name], string(value))
	}
	if !hasHost || !hasLength || !validHost(host) {
		return nil, false
	}
	return &http.Request{
		Method:        http.MethodPost,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		ContentLength: length,
		Host:          host,
		RequestURI:    uri,
		Close:         closeAfter,
	}, true
}

// visible tells whether b is visible ASCII only (no spaces, no controls,
// nothing past 0x7e), as a request target must be; a fragment is refused.
func visible(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// token tells whether b is an RFC 9110 token (a field name).
func token(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// fieldValue tells whether b may be a field value: visible ASCII, spaces
// and tabs (no controls, no bytes past 0x7e, which net/http would take
// but which no API client sends).
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

func digits(b []byte) bool {
	if len(b) == 0 || len(b) > 18 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validHost tells whether a Host is a plain host[:port] of letters,
// digits, '.', '-', ':', '[' and ']' (an IPv6 literal), and not empty.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}
