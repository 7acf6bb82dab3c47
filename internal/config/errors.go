package config

import "fmt"

// FieldError is a validation failure of one field, named by its path in the
// request body (e.g. "nodes[3].port").
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// fieldErr builds a FieldError whose message starts with the field path, so
// that a message read alone still names what is wrong.
func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: field + " " + fmt.Sprintf(format, args...)}
}
