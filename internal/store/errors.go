package store

import "errors"

// ErrUnavailable is what errors.Is finds in the error of a store call that
// failed because the store could not be reached in time: the database
// server is down, refuses connections, or does not answer within the
// store's timeouts. Nothing was changed, or (when the connection broke
// during a commit) the outcome is unknown; the call may be retried. The
// admin API answers it with 503.
var ErrUnavailable = errors.New("the configuration store is unreachable")

// UnavailableError is an ErrUnavailable with its cause.
type UnavailableError struct {
	Op  string // the store operation, e.g. "create channel"
	Err error  // the cause, from the driver
}

func (e *UnavailableError) Error() string {
	msg := ErrUnavailable.Error() + ": "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	if e.Err == nil {
		return msg + "no connection"
	}
	return msg + e.Err.Error()
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err says the store could not be reached.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
