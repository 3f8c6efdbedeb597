package processor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// accessTimeout bounds CheckAccess: a broker that accepts connections and
// never answers is "unreachable" after it, not a hang.
const accessTimeout = 15 * time.Second

// aclDoc is where the operator finds the ACLs the service needs.
const aclDoc = `docs/operations.md, "ACLs"`

// CheckAccess connects as the service will and checks, before anything
// starts, that the cluster lets it in and lets it do its job, so a
// misconfigured credential or a missing ACL is one clear line at start
// instead of a stream that stalls later (a DLQ write refused at the first
// poison record). It checks:
//
//  1. the connection: TLS trust, the client certificate, SASL credentials
//     (the error says which setting to look at);
//  2. the topics' authorized operations (Metadata, KIP-430): Read on
//     input.topic, Write on output.topic and dlq.topic;
//  3. the group: the principal may use input.group, and Read on it once
//     the group exists (a group that does not exist yet reports no
//     operations).
//
// A topic that does not exist is left to the processor (which creates it
// or reports it missing). The exactly-once transactional id is checked by
// the engine's first request, also at start. A broker without an authorizer
// allows everything and passes.
func CheckAccess(ctx context.Context, k KafkaConfig, c Config) error {
	opts, err := ClientOpts(k)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, accessTimeout)
	defer cancel()

	topics := []struct{ key, name, need, verb string }{
		{"input.topic", c.InputTopic, "READ", "read"},
		{"output.topic", c.OutputTopic, "WRITE", "write to"},
		{"dlq.topic", c.DLQTopic, "WRITE", "write to"},
	}
	req := kmsg.NewPtrMetadataRequest()
	req.IncludeTopicAuthorizedOperations = true
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t.name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return connectError(k, err)
	}
	who := k.principal()
	for _, t := range topics {
		i := slices.IndexFunc(resp.Topics, func(rt kmsg.MetadataResponseTopic) bool { return rt.Topic != nil && *rt.Topic == t.name })
		if i < 0 {
			continue
		}
		rt := resp.Topics[i]
		switch err := kerr.ErrorForCode(rt.ErrorCode); {
		case errors.Is(err, kerr.TopicAuthorizationFailed):
			return fmt.Errorf("%s %q: %s may not even describe it (needs ACL %s on Topic %s; see %s)", t.key, t.name, who, t.need, t.name, aclDoc)
		case err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition):
			continue // reported by the processor's own topic check
		}
		if rt.AuthorizedOperations == math.MinInt32 { // not reported
			continue
		}
		ops := kadm.DecodeACLOperations(rt.AuthorizedOperations)
		if !hasOp(ops, t.need) {
			return fmt.Errorf("%s %q: %s may not %s it (needs ACL %s on Topic %s, has %s; see %s)",
				t.key, t.name, who, t.verb, t.need, t.name, opList(ops), aclDoc)
		}
	}
	return checkGroup(ctx, cl, c.Group, who)
}

// checkGroup checks that the principal may use the group and, once the
// group exists, read it (join, commit offsets).
func checkGroup(ctx context.Context, cl *kgo.Client, group, who string) error {
	adm := kadm.NewClient(cl)
	coord := adm.FindGroupCoordinators(ctx, group)[group]
	if errors.Is(coord.Err, kerr.GroupAuthorizationFailed) {
		return fmt.Errorf("input.group %q: %s may not use it (needs ACL READ on Group %s; see %s)", group, who, group, aclDoc)
	}
	if coord.Err != nil {
		return nil // coordinator not ready yet: the consumer retries, nothing to report here
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	req.IncludeAuthorizedOperations = true
	resp, err := req.RequestWith(ctx, cl.Broker(int(coord.NodeID)))
	if err != nil || len(resp.Groups) != 1 {
		return nil
	}
	g := resp.Groups[0]
	switch err := kerr.ErrorForCode(g.ErrorCode); {
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return fmt.Errorf("input.group %q: %s may not use it (needs ACL READ on Group %s; see %s)", group, who, group, aclDoc)
	case err != nil, g.AuthorizedOperations == math.MinInt32:
		return nil // a group that does not exist yet reports no operations
	}
	if ops := kadm.DecodeACLOperations(g.AuthorizedOperations); len(ops) > 0 && !hasOp(ops, "READ") {
		return fmt.Errorf("input.group %q: %s may not read it (needs ACL READ on Group %s, has %s; see %s)", group, who, group, opList(ops), aclDoc)
	}
	return nil
}

func hasOp(ops []kmsg.ACLOperation, name string) bool {
	return slices.ContainsFunc(ops, func(o kmsg.ACLOperation) bool { return o.String() == name || o == kmsg.ACLOperationAll })
}

func opList(ops []kmsg.ACLOperation) string {
	if len(ops) == 0 {
		return "none"
	}
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.String()
	}
	return strings.Join(names, ", ")
}

// principal says who the cluster sees, for error messages.
func (k KafkaConfig) principal() string {
	switch m := strings.ToUpper(k.SASL.Mechanism); m {
	case "":
	case "OAUTHBEARER":
		return "the OAUTHBEARER token's principal"
	default:
		return fmt.Sprintf("SASL %s user %q", m, k.SASL.Username)
	}
	if k.TLS.Enabled {
		if s := k.TLS.CertificateSubject(); s != "" {
			return "the client certificate " + s
		}
	}
	return "the anonymous client"
}

// writeDenied explains a produce refused for lack of an ACL (Write taken
// away while the service runs: the start-up check passed) with the
// principal and the ACL to add; other errors are returned as they are.
func writeDenied(k KafkaConfig, topic string, err error) error {
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		return err
	}
	return fmt.Errorf("%s may not write to it (needs ACL WRITE on Topic %s; see %s): %w", k.principal(), topic, aclDoc, err)
}

// connectError explains a failure to reach or log in to the cluster with
// the settings to look at. Network failures keep the word "unreachable".
func connectError(k KafkaConfig, err error) error {
	at := "kafka " + k.Brokers
	var (
		unknownCA x509.UnknownAuthorityError
		badName   x509.HostnameError
		invalid   x509.CertificateInvalidError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%s: the broker's TLS certificate is not trusted (%v): set kafka.tls.ca_file to the CA that signed it", at, rootCause(err))
	case errors.As(err, &badName):
		return fmt.Errorf("%s: the broker's TLS certificate is for another name (%v): connect by a name it carries, or set kafka.tls.server_name", at, rootCause(err))
	case errors.As(err, &invalid):
		return fmt.Errorf("%s: the broker's TLS certificate is not valid (%v)", at, rootCause(err))
	case errors.As(err, &opErr) && opErr.Op == "remote error" && isCertAlert(opErr.Err):
		if k.TLS.CertFile == "" {
			return fmt.Errorf("%s: the broker refused the TLS handshake (%v): it requires a client certificate: set kafka.tls.cert_file and kafka.tls.key_file", at, err)
		}
		return fmt.Errorf("%s: the broker refused the client certificate %s (%v): is it signed by a CA the broker trusts, and still valid?", at, k.TLS.CertificateSubject(), err)
	case errors.Is(err, errNoCredentials):
		return fmt.Errorf("%s: %w", at, err)
	case errors.Is(err, kerr.SaslAuthenticationFailed), isOAuthRejection(err):
		what := "wrong user name or password (kafka.sasl.username, kafka.sasl.password or password_file)"
		if strings.EqualFold(k.SASL.Mechanism, "OAUTHBEARER") {
			what = "the broker rejected the token: expired, or not valid for this cluster (kafka.sasl.oauth)"
		}
		return fmt.Errorf("%s: authentication failed for %s: %s: %v", at, k.principal(), what, err)
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("%s: the broker does not accept kafka.sasl.mechanism %s on this listener: %v", at, k.SASL.Mechanism, err)
	case errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed):
		return fmt.Errorf("%s: %s is not authorized (%v; see %s)", at, k.principal(), err, aclDoc)
	}
	var firstEOF *kgo.ErrFirstReadEOF
	switch {
	case !k.TLS.Enabled && strings.Contains(err.Error(), "appear to be a tls alert record"):
		// franz-go's guess, in an error without a type: the broker
		// answered the plaintext request with a TLS alert.
		return fmt.Errorf("%s: the listener speaks TLS and kafka.tls.enabled is false: set kafka.tls.enabled (and kafka.tls.ca_file for a private CA): %w", at, err)
	case errors.As(err, &firstEOF) && !k.TLS.Enabled:
		return fmt.Errorf("%s unreachable: %w (a TLS or SASL listener? set kafka.tls.enabled, kafka.sasl.mechanism)", at, err)
	case errors.As(err, &firstEOF) && k.SASL.Mechanism == "":
		// Over TLS the handshake passed: a listener that closes at the
		// first request wants SASL.
		return fmt.Errorf("%s unreachable: %w (a SASL_SSL listener? set kafka.sasl.mechanism and its credentials)", at, err)
	}
	return fmt.Errorf("%s unreachable: %w", at, err)
}

// isOAuthRejection: the broker answered the OAUTHBEARER token with an error
// challenge (invalid_token: expired, wrong scope or audience), which
// franz-go reports without its details.
func isOAuthRejection(err error) bool {
	return strings.Contains(err.Error(), "unexpected data in oauth response")
}

// certAlerts are the TLS alerts a server sends when the client certificate
// is missing or not accepted. crypto/tls does not export the type of a
// received alert, but its text is that of tls.AlertError with the same
// code. A Java broker answers an expired certificate, or one of a CA it
// does not trust, with certificate_unknown ("tls: unknown certificate").
var certAlerts = []tls.AlertError{
	42,  // bad_certificate
	43,  // unsupported_certificate
	44,  // certificate_revoked
	45,  // certificate_expired
	46,  // certificate_unknown
	48,  // unknown_ca
	116, // certificate_required
}

// isCertAlert: err is one of certAlerts.
func isCertAlert(err error) bool {
	for _, a := range certAlerts {
		if err.Error() == a.Error() {
			return true
		}
	}
	return false
}

// rootCause is the innermost error, without franz-go's "unable to dial"
// and crypto/tls's prefixes.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
