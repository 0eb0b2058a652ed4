package service

import "strings"

// joinErrors is errors.Join on one line: the messages are separated by "; "
// so that a command can print the error as a single line. errors.Is and
// errors.As see every error. It returns nil when every error is nil.
func joinErrors(errs ...error) error {
	var out multiError
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

type multiError []error

func (m multiError) Error() string {
	msgs := make([]string, len(m))
	for i, err := range m {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (m multiError) Unwrap() []error { return m }
