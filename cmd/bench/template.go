package bench

import (
	"bytes"
	cryptorand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strings"
	"text/template"
	"time"
)

// requestTemplate renders the request of each call. A request without
// "{{" is sent as it is.
type requestTemplate struct {
	text string
	tmpl *template.Template
}

// templateData is what a request template sees.
type templateData struct {
	// RequestNumber is the number of the call, from 0; the unmeasured
	// first call is 0 too.
	RequestNumber int
	// WorkerID is the caller that makes the call, from 0 to -c minus 1.
	WorkerID int
}

func newRequestTemplate(text string) (*requestTemplate, error) {
	t := &requestTemplate{text: text}
	if !strings.Contains(text, "{{") {
		return t, nil
	}
	tmpl, err := template.New("request").Option("missingkey=error").Funcs(template.FuncMap{
		"randomInt": func(lo, hi int) (int, error) {
			if hi <= lo {
				return 0, fmt.Errorf("randomInt %d %d: want the first below the second", lo, hi)
			}
			return lo + rand.IntN(hi-lo), nil
		},
		"mod": func(a, b int) (int, error) {
			if b == 0 {
				return 0, fmt.Errorf("mod %d 0: division by zero", a)
			}
			return a % b, nil
		},
		"randomString": randomString,
		"uuid":         uuid,
		"now":          func() string { return time.Now().UTC().Format(time.RFC3339Nano) },
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	t.tmpl = tmpl
	return t, nil
}

// render is the request of call n of worker w.
func (t *requestTemplate) render(n, w int) (string, error) {
	if t.tmpl == nil {
		return t.text, nil
	}
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, templateData{RequestNumber: n, WorkerID: w}); err != nil {
		return "", err
	}
	return b.String(), nil
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int) (string, error) {
	if n < 0 || n > 1<<20 {
		return "", fmt.Errorf("randomString %d: want a length from 0 to 1048576", n)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b), nil
}

func uuid() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
