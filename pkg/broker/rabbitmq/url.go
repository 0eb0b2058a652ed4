package rabbitmq

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// server is one URL of the broker.
type server struct {
	uri amqp.URI
	// redacted is the URL without credentials, for messages:
	// amqp://127.0.0.1:5672/ or amqp://10.0.0.1:5672/orders.
	redacted string
}

// parseURLs parses a comma-separated list of AMQP URLs; host:port alone is
// amqp://host:port/.
func parseURLs(list string) ([]server, error) {
	var out []server
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if !strings.Contains(raw, "://") {
			raw = "amqp://" + raw + "/"
		}
		uri, err := amqp.ParseURI(raw)
		if err != nil {
			// The parser's message may quote the URL, password and all.
			why := err.Error()
			if scheme, at := strings.Index(raw, "://"), strings.LastIndex(raw, "@"); scheme >= 0 && at > scheme+3 {
				why = strings.ReplaceAll(why, raw[scheme+3:at], "…")
			}
			why = strings.ReplaceAll(why, raw, redactRaw(raw))
			return nil, fmt.Errorf("rabbitmq broker: server url %q: %s: want amqp://user:password@host:port/vhost", redactRaw(raw), why)
		}
		out = append(out, server{uri: uri, redacted: redact(uri)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rabbitmq broker: no server url in %q", redactRaw(list))
	}
	return out, nil
}

func redact(uri amqp.URI) string {
	vhost := uri.Vhost
	if vhost == "/" {
		vhost = ""
	}
	return uri.Scheme + "://" + net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port)) + "/" + url.PathEscape(vhost)
}

// redactRaw hides the password of a URL that did not parse.
func redactRaw(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			if scheme := strings.Index(raw, "://"); scheme >= 0 && scheme < at {
				return raw[:scheme+3] + "…@" + raw[at+1:]
			}
		}
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// redactList is the list of servers for messages.
func redactList(servers []server) string {
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.redacted
	}
	return strings.Join(names, ",")
}
