package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"
)

//go:embed avro/*.avsc
var avscFS embed.FS

// PredictionSchemaName is the embedded name of the prediction record schema.
const PredictionSchemaName = "prediction"

type embeddedSchema struct {
	text   string
	codec  *goavro.Codec
	parsed *avroType
}

var embedded struct {
	once   sync.Once
	byName map[string]*embeddedSchema
	err    error
}

// loadEmbedded parses every embedded .avsc and builds its goavro codec, once
// per process.
func loadEmbedded() (map[string]*embeddedSchema, error) {
	embedded.once.Do(func() {
		entries, err := fs.ReadDir(avscFS, "avro")
		if err != nil {
			embedded.err = fmt.Errorf("reading embedded schemas: %w", err)
			return
		}
		m := make(map[string]*embeddedSchema, len(entries))
		for _, e := range entries {
			b, err := avscFS.ReadFile(path.Join("avro", e.Name()))
			if err != nil {
				embedded.err = fmt.Errorf("reading embedded schema %s: %w", e.Name(), err)
				return
			}
			s, err := compileSchemaText(string(b))
			if err != nil {
				embedded.err = fmt.Errorf("embedded schema %s: %w", e.Name(), err)
				return
			}
			m[strings.TrimSuffix(e.Name(), ".avsc")] = s
		}
		embedded.byName = m
	})
	return embedded.byName, embedded.err
}

func compileSchemaText(text string) (*embeddedSchema, error) {
	codec, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("goavro: %w", err)
	}
	t, err := parseAvroSchema(text)
	if err != nil {
		return nil, err
	}
	return &embeddedSchema{text: text, codec: codec, parsed: t}, nil
}

// EmbeddedNames lists the embedded schemas (without the .avsc suffix).
func EmbeddedNames() []string {
	m, _ := loadEmbedded()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EmbeddedSchema returns the text of an embedded schema by name, with or
// without the .avsc suffix ("prediction", "fraud_transaction.avsc").
func EmbeddedSchema(name string) (string, error) {
	s, err := embeddedByName(name)
	if err != nil {
		return "", err
	}
	return s.text, nil
}

// EmbeddedCodec returns the goavro codec of an embedded schema. Codecs are
// built once, at first use, and are safe for concurrent use.
func EmbeddedCodec(name string) (*goavro.Codec, error) {
	s, err := embeddedByName(name)
	if err != nil {
		return nil, err
	}
	return s.codec, nil
}

func embeddedByName(name string) (*embeddedSchema, error) {
	m, err := loadEmbedded()
	if err != nil {
		return nil, err
	}
	s, ok := m[strings.TrimSuffix(name, ".avsc")]
	if !ok {
		return nil, fmt.Errorf("schema %q: %w", name, ErrUnknownSchema)
	}
	return s, nil
}

// loadWriterSchema resolves InputConfig.AvroSchema: an embedded name first,
// then a file path.
func loadWriterSchema(ref string) (*embeddedSchema, error) {
	if s, err := embeddedByName(ref); err == nil {
		return s, nil
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("avro schema %q is neither embedded (%s) nor a readable file: %w",
			ref, strings.Join(EmbeddedNames(), ", "), err)
	}
	s, err := compileSchemaText(string(b))
	if err != nil {
		return nil, fmt.Errorf("avro schema file %s: %w", ref, err)
	}
	return s, nil
}
