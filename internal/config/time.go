package config

import (
	"errors"
	"time"
)

// TimeLayout is the one form every timestamp the product shows takes: RFC
// 3339, in UTC, with exactly three fraction digits. A fixed width keeps
// timestamps sortable as text and comparable by eye, which RFC 3339 alone
// does not (time.Time's own JSON drops trailing zeros and keeps the zone
// it was made in).
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is a timestamp of the API: a time.Time that marshals in TimeLayout
// and unmarshals from any RFC 3339 time.
type Time struct{ time.Time }

// At is t as the API shows it: in UTC, truncated to the millisecond, so
// that what is stored and what is shown are the same instant.
func At(t time.Time) Time { return Time{t.UTC().Truncate(time.Millisecond)} }

// TimePtr is At(t) by pointer, for optional fields.
func TimePtr(t time.Time) *Time {
	v := At(t)
	return &v
}

// FormatTime writes t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// appendTime appends t in TimeLayout to b.
func appendTime(b []byte, t time.Time) []byte { return t.UTC().AppendFormat(b, TimeLayout) }

// String is the time in TimeLayout.
func (t Time) String() string { return FormatTime(t.Time) }

// MarshalText writes the time in TimeLayout.
func (t Time) MarshalText() ([]byte, error) {
	if y := t.UTC().Year(); y < 0 || y >= 10000 {
		return nil, errors.New("config.Time: year outside of range [0,9999]")
	}
	return appendTime(nil, t.Time), nil
}

// MarshalJSON writes the time in TimeLayout, quoted.
func (t Time) MarshalJSON() ([]byte, error) {
	b, err := t.MarshalText()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+2)
	out = append(out, '"')
	out = append(out, b...)
	return append(out, '"'), nil
}

// UnmarshalText reads any RFC 3339 time.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// UnmarshalJSON reads any RFC 3339 time, quoted; null leaves t unchanged,
// as for time.Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("config.Time: not a JSON string")
	}
	return t.UnmarshalText(b[1 : len(b)-1])
}
