package processor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/streamscore/streamscore/secret"
)

// saslMechanisms are the kafka.sasl.mechanism values, upper case, and how
// each authenticates. SASLConfig.Validate accepts exactly these. Every
// mechanism reads its secret (password file, token file, client secret
// file) when it authenticates, so a rotated secret is used from the next
// connection on.
var saslMechanisms = map[string]func(SASLConfig) (sasl.Mechanism, error){
	"PLAIN": func(s SASLConfig) (sasl.Mechanism, error) {
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			p, err := s.password()
			return plain.Auth{User: s.Username, Pass: p.Reveal()}, credentialErr(err)
		}), nil
	},
	"SCRAM-SHA-256": func(s SASLConfig) (sasl.Mechanism, error) { return scram.Sha256(s.scramAuth), nil },
	"SCRAM-SHA-512": func(s SASLConfig) (sasl.Mechanism, error) { return scram.Sha512(s.scramAuth), nil },
	"OAUTHBEARER":   func(s SASLConfig) (sasl.Mechanism, error) { return s.OAuth.mechanism() },
}

func (s SASLConfig) scramAuth(context.Context) (scram.Auth, error) {
	p, err := s.password()
	return scram.Auth{User: s.Username, Pass: p.Reveal()}, credentialErr(err)
}

// errNoCredentials marks a failure to get the client's own credentials (a
// secret file gone, a token endpoint refusing): not the broker's doing.
var errNoCredentials = errors.New("no credentials to log in with")

func credentialErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", errNoCredentials, err)
}

// ClientOpts are the connection options every client of the service uses
// (processor, demo generator, bench, produce), so all of them reach the
// cluster the same way: seed brokers, client id, TLS and SASL.
func ClientOpts(k KafkaConfig) ([]kgo.Opt, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.SeedBrokers(k.SeedBrokers()...), kgo.ClientID(k.ClientID)}
	if k.TLS.Enabled {
		tc, err := k.TLS.Client("kafka.tls.")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s := k.SASL; s.Mechanism != "" {
		m, err := saslMechanisms[strings.ToUpper(s.Mechanism)](s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// tokenEndpointTimeout bounds one request to kafka.sasl.oauth.token_url.
const tokenEndpointTimeout = 10 * time.Second

// mechanism is OAUTHBEARER with the token from the file (read at every
// authentication, so a refreshed file is used at once) or from the token
// endpoint (cached until shortly before it expires).
func (o OAuthConfig) mechanism() (sasl.Mechanism, error) {
	ext, err := o.extensions()
	if err != nil {
		return nil, err
	}
	if o.TokenFile != "" {
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			tok, err := secret.ReadFile(o.TokenFile)
			if err != nil {
				return oauth.Auth{}, credentialErr(fmt.Errorf("kafka.sasl.oauth.token_file: %w", err))
			}
			return oauth.Auth{Token: tok.Reveal(), Extensions: ext}, nil
		}), nil
	}
	cc := &clientCredentials{o: o, cfg: clientcredentials.Config{ClientID: o.ClientID, TokenURL: o.TokenURL, Scopes: o.scopes()}}
	ts := oauth2.ReuseTokenSource(nil, cc)
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		t, err := ts.Token()
		if err != nil {
			return oauth.Auth{}, credentialErr(fmt.Errorf("kafka.sasl.oauth.token_url %s: %w", redactedURL(o.TokenURL), tokenError(err)))
		}
		return oauth.Auth{Token: t.AccessToken, Extensions: ext}, nil
	}), nil
}

// clientCredentials fetches a token with the OAuth 2.0 client credentials
// grant (x/oauth2: client authentication by header or form as the endpoint
// takes it, error responses, expiry). The secret is read at every request,
// so a rotated client_secret_file is used at the next renewal.
// ReuseTokenSource serialises calls to Token.
type clientCredentials struct {
	o   OAuthConfig
	cfg clientcredentials.Config
}

func (c *clientCredentials) Token() (*oauth2.Token, error) {
	sec, err := c.o.clientSecret()
	if err != nil {
		return nil, err
	}
	c.cfg.ClientSecret = sec.Reveal()
	ctx, cancel := context.WithTimeout(context.Background(), tokenEndpointTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: tokenEndpointTimeout})
	return c.cfg.Token(ctx)
}

// tokenError is one line: x/oauth2 puts the response body on a line of its
// own when the endpoint answers without an RFC 6749 error code.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	status := ""
	if re.Response != nil {
		status = re.Response.Status + ": "
	}
	if re.ErrorCode != "" {
		return fmt.Errorf("token endpoint answered %s%s", status, strings.TrimSpace(re.ErrorCode+" "+re.ErrorDescription))
	}
	body := strings.Join(strings.Fields(string(re.Body)), " ")
	if len(body) > maxTokenErrorBody { // an HTML error page, say: the start says what it is
		body = body[:maxTokenErrorBody] + fmt.Sprintf("... (%d bytes more)", len(body)-maxTokenErrorBody)
	}
	return fmt.Errorf("token endpoint answered %s%s", status, body)
}

// maxTokenErrorBody is how much of a token endpoint's non-OAuth error body
// an error line shows.
const maxTokenErrorBody = 300

// compressionCodec is CompressionCodec under the name the engine uses.
var compressionCodec = CompressionCodec

// CompressionCodec is the producer codec named by processor.compression.
func CompressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("processor.compression %q: want none, gzip, snappy, lz4 or zstd", name)
}
