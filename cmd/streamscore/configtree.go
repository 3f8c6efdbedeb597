package main

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/secret"
)

// The configuration tree. Config (config.go) nests the packages' own
// config structs; every key is a struct field tagged
//
//	Name Type `config:"name" help:"what it does"`
//
// A struct-typed field is a section (its keys are "section.name"), an
// embedded struct adds its keys to the section it is embedded in, and
// `config:"-"` marks a field that is not a key. From this one tree come the
// flags, the environment variable names, the keys a file may use, the
// validation order, the redacted output of `streamscore config` and
// docs/configuration.md.

// envPrefix starts every configuration environment variable.
const envPrefix = "STREAMSCORE_"

// toolingEnvPrefixes start the variables of the project's own scripts and
// tests. They are never configuration, so the loader ignores them.
var toolingEnvPrefixes = []string{"STREAMSCORE_TEST_", "STREAMSCORE_DEV_"}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[secret.Value]()
)

// leaf is one configuration key.
type leaf struct {
	key  string        // dotted path, "processor.commit_interval"
	help string        // the help tag
	v    reflect.Value // the field, settable
}

// section is one struct of the tree that holds keys: "kafka", "kafka.sasl".
type section struct {
	key string
	v   reflect.Value // settable
}

// walkConfig lists the keys and the sections of c in declaration order.
// A field without a config tag or a key without help is a programming
// error: it panics, and the tests walk the tree.
func walkConfig(c *Config) ([]leaf, []section) {
	var leaves []leaf
	var sections []section
	var visit func(v reflect.Value, prefix string)
	visit = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("config")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			fv := v.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				visit(fv, prefix)
				continue
			}
			if tag == "" {
				panic(fmt.Sprintf("config tree: %s.%s has no config tag", t, f.Name))
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			if f.Type.Kind() == reflect.Struct {
				sections = append(sections, section{key: key, v: fv})
				visit(fv, key)
				continue
			}
			help := f.Tag.Get("help")
			if help == "" {
				panic(fmt.Sprintf("config tree: key %s (%s.%s) has no help tag", key, t, f.Name))
			}
			leaves = append(leaves, leaf{key: key, help: help, v: fv})
		}
	}
	visit(reflect.ValueOf(c).Elem(), "")
	return leaves, sections
}

// envName is the environment variable of a key: kafka.sasl.password ->
// STREAMSCORE_KAFKA_SASL_PASSWORD.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func isToolingEnv(name string) bool {
	for _, p := range toolingEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// addFlag registers the flag of a key, named like the key, with its value
// in l as the default.
func (l leaf) addFlag(fs *pflag.FlagSet) {
	help := l.help + " [env " + envName(l.key) + "]"
	switch {
	case l.v.Type() == durationType:
		fs.Duration(l.key, time.Duration(l.v.Int()), help)
	case l.v.Kind() == reflect.String:
		fs.String(l.key, l.v.String(), help)
	case l.v.Kind() == reflect.Bool:
		fs.Bool(l.key, l.v.Bool(), help)
	case l.v.Kind() == reflect.Int:
		fs.Int(l.key, int(l.v.Int()), help)
	case l.v.Kind() == reflect.Int32:
		fs.Int32(l.key, int32(l.v.Int()), help)
	case l.v.Kind() == reflect.Int64:
		fs.Int64(l.key, l.v.Int(), help)
	default:
		panic(fmt.Sprintf("config tree: key %s has unsupported type %s", l.key, l.v.Type()))
	}
}

// set stores a value read from a file (YAML types), the environment or a
// flag (strings or the flag's type). The error says what was wanted; the
// caller adds the key and the value.
func (l leaf) set(raw any) error {
	v := l.v
	if v.Type() == durationType {
		var d time.Duration
		var err error
		switch x := raw.(type) {
		case time.Duration:
			d = x
		case string:
			d, err = time.ParseDuration(strings.TrimSpace(x))
		default:
			err = errors.New("not a string")
		}
		if err != nil {
			return errors.New("want a duration such as 250ms, 10s or 1m30s")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(scalarString(raw))
	case reflect.Bool:
		b, ok := raw.(bool)
		if s, isStr := raw.(string); isStr {
			var err error
			b, err = strconv.ParseBool(strings.TrimSpace(s))
			ok = err == nil
		}
		if !ok {
			return errors.New("want true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		var n int64
		var err error
		switch x := raw.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case uint64:
			n, err = int64(x), nil
			if x > math.MaxInt64 {
				err = errors.New("too large")
			}
		case float64: // YAML's 1e6
			n = int64(x)
			if float64(n) != x {
				err = errors.New("not an integer")
			}
		case string:
			n, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		default:
			err = errors.New("not a number")
		}
		if err != nil {
			return errors.New("want an integer")
		}
		if v.OverflowInt(n) {
			return fmt.Errorf("out of range for a %s", v.Type())
		}
		v.SetInt(n)
	default:
		panic(fmt.Sprintf("config tree: key %s has unsupported type %s", l.key, v.Type()))
	}
	return nil
}

// scalarString is a YAML scalar or list as a string; a list (brokers: [a, b])
// is joined with commas, the form the comma separated keys take.
func scalarString(raw any) string {
	switch x := raw.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = scalarString(p)
		}
		return strings.Join(parts, ",")
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(raw)
}

// show is how the value of l appears in `streamscore config`, errors and
// the docs: durations as "10s", secrets "[redacted]" (empty when unset),
// passwords written into URLs hidden.
func (l leaf) show() any {
	v := l.v
	switch {
	case v.Type() == secretType:
		if v.String() == "" {
			return ""
		}
		return "[redacted]"
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.String:
		return redactURL(v.String())
	}
	return v.Interface()
}

// showRaw is how a value that could not be stored appears in the error.
func (l leaf) showRaw(raw any) string {
	if l.v.Type() == secretType {
		return `"[redacted]"`
	}
	return strconv.Quote(redactURL(scalarString(raw)))
}

// redactURL hides a password written into a URL (https://user:pw@host),
// which Go's HTTP client would use for basic auth.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	return u.Redacted()
}

// redactArgs is a command line with the value of every secret flag
// (--kafka.sasl.password x, --kafka.sasl.password=x) shown as "[redacted]"
// and passwords written into URLs hidden: what /debug/pprof/cmdline serves.
func redactArgs(args []string) []string {
	c := defaultConfig()
	leaves, _ := walkConfig(&c)
	secrets := map[string]bool{}
	for _, l := range leaves {
		if l.v.Type() == secretType {
			secrets["--"+l.key] = true
		}
	}
	out := make([]string, len(args))
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(args[i], "=")
		switch {
		case !secrets[name]:
			out[i] = redactURL(args[i])
		case hasValue:
			out[i] = name + "=" + secret.Redacted
		default:
			out[i] = name
			if i+1 < len(args) {
				i++
				out[i] = secret.Redacted
			}
		}
	}
	return out
}

// configYAML renders c as YAML in the tree's order, secrets redacted.
func configYAML(c *Config) ([]byte, error) {
	leaves, _ := walkConfig(c)
	root := &yaml.Node{Kind: yaml.MappingNode}
	maps := map[string]*yaml.Node{"": root}
	var mapping func(path string) *yaml.Node
	mapping = func(path string) *yaml.Node {
		if m, ok := maps[path]; ok {
			return m
		}
		parent, name := "", path
		if i := strings.LastIndex(path, "."); i >= 0 {
			parent, name = path[:i], path[i+1:]
		}
		m := &yaml.Node{Kind: yaml.MappingNode}
		p := mapping(parent)
		p.Content = append(p.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, m)
		maps[path] = m
		return m
	}
	for _, l := range leaves {
		parent, name := "", l.key
		if i := strings.LastIndex(l.key, "."); i >= 0 {
			parent, name = l.key[:i], l.key[i+1:]
		}
		var val yaml.Node
		if err := val.Encode(l.show()); err != nil {
			return nil, fmt.Errorf("%s: %w", l.key, err)
		}
		m := mapping(parent)
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, &val)
	}
	return yaml.Marshal(root)
}
