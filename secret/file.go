package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrBothSet is returned by Resolve when a secret is given twice.
var ErrBothSet = errors.New("both are set: use one")

// ReadFile returns the secret held by the file at path: its content without
// trailing line breaks (a file written by `echo` works like one written by
// a Kubernetes Secret mount). An empty file is an error. Errors name the
// path, never the content.
func ReadFile(path string) (Value, error) {
	b, err := os.ReadFile(path)
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return "", fmt.Errorf("%s %s: %w", pe.Op, path, pe.Err)
	}
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return Value(s), nil
}

// Resolve returns the secret that key (a configuration key such as
// "kafka.sasl.password") sets, either directly as v or through the file
// named by key+"_file". Both set is an error naming both keys; neither set
// is "" and no error.
func Resolve(key string, v Value, file string) (Value, error) {
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("%s and %s_file %w", key, key, ErrBothSet)
	case file != "":
		s, err := ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", key, err)
		}
		return s, nil
	}
	return v, nil
}
