package deploy_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// secretFileKeys are the config keys that name files the pod must mount.
var secretFileKeys = [][]string{
	{"kafka", "tls", "ca_file"}, {"kafka", "tls", "cert_file"}, {"kafka", "tls", "key_file"},
	{"kafka", "sasl", "password_file"}, {"kafka", "sasl", "oauth", "token_file"}, {"kafka", "sasl", "oauth", "client_secret_file"},
	{"registry", "ca_file"}, {"registry", "cert_file"}, {"registry", "key_file"}, {"registry", "password_file"}, {"registry", "token_file"},
	{"http", "tls", "cert_file"}, {"http", "tls", "key_file"}, {"http", "admin_token_file"}, {"http", "admin_client_ca_file"},
}

// secretMount is one file a Secret volume puts in the container.
type secretMount struct {
	secret, key string // the Secret and its key
	readOnly    bool
}

// secretMounts maps each file path that a Secret volume provides in the
// container to its Secret and key.
func secretMounts(t *testing.T, ms map[string]manifest) map[string]secretMount {
	t.Helper()
	pod := at(ms["StatefulSet"], "spec", "template", "spec")
	out := map[string]secretMount{}
	for _, m := range asSlice(at(pod, "containers", 0, "volumeMounts")) {
		for _, v := range asSlice(at(pod, "volumes")) {
			if at(v, "name") != at(m, "name") || at(v, "secret") == nil {
				continue
			}
			ro, _ := at(m, "readOnly").(bool)
			items := asSlice(at(v, "secret", "items"))
			if len(items) == 0 {
				t.Errorf("volume %v mounts every key of Secret %v: list the items, so the test can check them against the config", at(v, "name"), at(v, "secret", "secretName"))
			}
			for _, it := range items {
				out[path.Join(str(at(m, "mountPath")), str(at(it, "path")))] = secretMount{str(at(v, "secret", "secretName")), str(at(it, "key")), ro}
			}
		}
	}
	return out
}

// deployConfig is the ConfigMap's config.yaml, decoded.
func deployConfig(t *testing.T, ms map[string]manifest) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(str(at(ms["ConfigMap"], "data", "config.yaml"))), &cfg); err != nil {
		t.Fatalf("configmap.yaml config.yaml: %v", err)
	}
	return cfg
}

func atKeys(v any, keys []string) any {
	p := make([]any, len(keys))
	for i, k := range keys {
		p[i] = k
	}
	return at(v, p...)
}

// secretFiles stands the Secret's files in for a config check outside the
// cluster: every *_file path of the config becomes a file in a temporary
// directory (a CA certificate for ca_file, a placeholder secret otherwise)
// and the config text is returned with those paths.
func secretFiles(t *testing.T, ms map[string]manifest, config string) string {
	t.Helper()
	cfg := deployConfig(t, ms)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "deploy-test")
	client := ca.Client(t, "streamscore")
	for _, k := range secretFileKeys {
		p := str(atKeys(cfg, k))
		if p == "" {
			continue
		}
		content := []byte("placeholder-secret")
		switch k[len(k)-1] {
		case "ca_file", "admin_client_ca_file":
			content, _ = os.ReadFile(ca.File)
		case "cert_file":
			content, _ = os.ReadFile(client.CertFile)
		case "key_file":
			content, _ = os.ReadFile(client.KeyFile)
		}
		local := filepath.Join(dir, strings.Join(k, "."))
		if err := os.WriteFile(local, content, 0o600); err != nil {
			t.Fatal(err)
		}
		config = strings.ReplaceAll(config, p, local)
	}
	return config
}

// TestKubernetesSecured checks what makes the manifests fit a secured
// cluster and a restricted namespace, beyond what the schemas can say.
func TestKubernetesSecured(t *testing.T) {
	ms := loadManifests(t)
	for _, k := range []string{"Namespace", "TriggerAuthentication", "NetworkPolicy", "ServiceMonitor"} {
		if ms[k] == nil {
			t.Fatalf("deploy/kubernetes has no %s", k)
		}
	}
	cfg := deployConfig(t, ms)
	pod := at(ms["StatefulSet"], "spec", "template")
	podLabels, _ := at(pod, "metadata", "labels").(map[string]any)
	c := at(pod, "spec", "containers", 0)

	t.Run("PodSecurity restricted", func(t *testing.T) {
		if got := str(at(ms["Namespace"], "metadata", "labels", "pod-security.kubernetes.io/enforce")); got != "restricted" {
			t.Errorf("namespace label pod-security.kubernetes.io/enforce = %q, want restricted", got)
		}
		if got := str(at(pod, "spec", "securityContext", "seccompProfile", "type")); got != "RuntimeDefault" {
			t.Errorf("pod seccompProfile %q, want RuntimeDefault", got)
		}
		if at(pod, "spec", "securityContext", "runAsNonRoot") != true || at(c, "securityContext", "runAsNonRoot") != true {
			t.Error("runAsNonRoot must be true for the pod and the container")
		}
		if !slices.Contains(asSlice(at(c, "securityContext", "capabilities", "drop")), any("ALL")) || at(c, "securityContext", "capabilities", "add") != nil {
			t.Errorf("container capabilities %v: want drop [ALL] and nothing added", at(c, "securityContext", "capabilities"))
		}
		if at(c, "securityContext", "allowPrivilegeEscalation") != false || at(c, "securityContext", "readOnlyRootFilesystem") != true {
			t.Error("container: allowPrivilegeEscalation must be false and readOnlyRootFilesystem true")
		}
		for _, v := range asSlice(at(pod, "spec", "volumes")) {
			if at(v, "hostPath") != nil {
				t.Errorf("volume %v is a hostPath: not allowed under restricted", at(v, "name"))
			}
		}
	})

	mounts := secretMounts(t, ms)
	t.Run("secrets are files from read-only Secret mounts", func(t *testing.T) {
		used := 0
		for _, k := range secretFileKeys {
			p := str(atKeys(cfg, k))
			if p == "" {
				continue
			}
			used++
			m, ok := mounts[p]
			if !ok {
				t.Errorf("%s %s: no Secret volume item is mounted there (mounts: %v)", strings.Join(k, "."), p, mounts)
				continue
			}
			if !m.readOnly {
				t.Errorf("%s: the Secret volume is mounted read-write", strings.Join(k, "."))
			}
		}
		if used == 0 {
			t.Error("the config reads no secret from a file")
		}
		for _, k := range [][]string{{"kafka", "sasl", "password"}, {"kafka", "sasl", "oauth", "client_secret"}, {"registry", "password"}, {"registry", "token"}} {
			if atKeys(cfg, k) != nil {
				t.Errorf("configmap.yaml sets %s: a ConfigMap is no place for a secret; use %s_file", strings.Join(k, "."), strings.Join(k, "."))
			}
		}
	})

	t.Run("KEDA logs in like the service", func(t *testing.T) {
		so, ta := ms["ScaledObject"], ms["TriggerAuthentication"]
		trig := at(so, "spec", "triggers", 0)
		if got, want := str(at(trig, "authenticationRef", "name")), str(at(ta, "metadata", "name")); got != want {
			t.Errorf("ScaledObject authenticationRef %q, want the TriggerAuthentication %q", got, want)
		}
		// KEDA's names of the service's kafka.sasl.mechanism values.
		mech := map[string]string{"": "none", "PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512",
			"OAUTHBEARER": "oauthbearer"}[strings.ToUpper(str(at(cfg, "kafka", "sasl", "mechanism")))]
		if got := str(at(trig, "metadata", "sasl")); got != mech {
			t.Errorf("trigger sasl %q, config kafka.sasl.mechanism says %q", got, mech)
		}
		wantTLS := map[bool]string{true: "enable", false: "disable"}[at(cfg, "kafka", "tls", "enabled") == true]
		if got := str(at(trig, "metadata", "tls")); got != wantTLS {
			t.Errorf("trigger tls %q, config kafka.tls.enabled says %q", got, wantTLS)
		}
		refs := map[string]secretMount{}
		for _, r := range asSlice(at(ta, "spec", "secretTargetRef")) {
			refs[str(at(r, "parameter"))] = secretMount{secret: str(at(r, "name")), key: str(at(r, "key"))}
		}
		// The service's username comes from the same Secret key.
		var username secretMount
		for _, e := range asSlice(at(c, "env")) {
			if str(at(e, "name")) == "STREAMSCORE_KAFKA_SASL_USERNAME" {
				username = secretMount{secret: str(at(e, "valueFrom", "secretKeyRef", "name")), key: str(at(e, "valueFrom", "secretKeyRef", "key"))}
			}
		}
		for param, want := range map[string]secretMount{
			"username": username,
			"password": mounts[str(at(cfg, "kafka", "sasl", "password_file"))],
			"ca":       mounts[str(at(cfg, "kafka", "tls", "ca_file"))],
		} {
			want.readOnly = false
			if want.secret == "" {
				t.Errorf("the service gets no %s from a Secret", param)
				continue
			}
			if refs[param] != want {
				t.Errorf("TriggerAuthentication %s = %+v, the service uses %+v", param, refs[param], want)
			}
		}
	})

	t.Run("NetworkPolicy", func(t *testing.T) {
		np := ms["NetworkPolicy"]
		for k, v := range at(np, "spec", "podSelector", "matchLabels").(map[string]any) {
			if podLabels[k] != v {
				t.Errorf("NetworkPolicy selects %s=%v, not the pod (labels %v)", k, v, podLabels)
			}
		}
		if !slices.Equal(asSlice(at(np, "spec", "policyTypes")), []any{"Ingress", "Egress"}) {
			t.Errorf("policyTypes %v, want [Ingress Egress]", at(np, "spec", "policyTypes"))
		}
		if got := at(np, "spec", "ingress", 0, "ports", 0, "port"); got != at(c, "ports", 0, "name") {
			t.Errorf("ingress port %v, want the container's metrics port %v", got, at(c, "ports", 0, "name"))
		}
		// Every broker address of kafka.brokers; the ones they advertise use
		// the same listener port.
		_, brokerPort, _ := strings.Cut(strings.Split(str(at(cfg, "kafka", "brokers")), ",")[0], ":")
		found := false
		for _, e := range asSlice(at(np, "spec", "egress")) {
			for _, p := range asSlice(at(e, "ports")) {
				if n, ok := at(p, "port").(int); ok && strconv.Itoa(n) == brokerPort {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no egress rule allows the brokers' port %s (kafka.brokers %v)", brokerPort, at(cfg, "kafka", "brokers"))
		}
	})

	t.Run("HTTP listeners", func(t *testing.T) {
		// TLS on: the probes, the ServiceMonitor and the scrape annotation
		// speak HTTPS, and Prometheus trusts the CA of the certificate's Secret.
		certFile := str(at(cfg, "http", "tls", "cert_file"))
		scheme := map[bool]string{true: "HTTPS", false: "HTTP"}[certFile != ""]
		for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			got := str(at(c, probe, "httpGet", "scheme"))
			if got == "" {
				got = "HTTP"
			}
			if got != scheme {
				t.Errorf("%s scheme %s, want %s (http.tls.cert_file %q)", probe, got, scheme, certFile)
			}
		}
		ep := at(ms["ServiceMonitor"], "spec", "endpoints", 0)
		if got := strings.ToUpper(str(at(ep, "scheme"))); got != scheme && !(got == "" && scheme == "HTTP") {
			t.Errorf("ServiceMonitor scheme %q, want %s", got, scheme)
		}
		if got := strings.ToUpper(str(at(pod, "metadata", "annotations", "prometheus.io/scheme"))); got != scheme && !(got == "" && scheme == "HTTP") {
			t.Errorf("annotation prometheus.io/scheme %q, want %s", got, scheme)
		}
		if certFile != "" {
			cert := mounts[certFile]
			if got := str(at(ep, "tlsConfig", "ca", "secret", "name")); got != cert.secret {
				t.Errorf("ServiceMonitor tlsConfig.ca from Secret %q, the certificate comes from %q", got, cert.secret)
			}
		}

		// The admin listener: its own container port, in neither the
		// Service nor the NetworkPolicy (kubectl port-forward reaches it).
		admin := str(at(cfg, "http", "admin_listen"))
		if admin == "" {
			t.Fatal("configmap.yaml sets no http.admin_listen: the admin routes would share the scraped port")
		}
		_, adminPort, _ := strings.Cut(admin, ":")
		var named string
		for _, p := range asSlice(at(c, "ports")) {
			if n, _ := at(p, "containerPort").(int); strconv.Itoa(n) == adminPort {
				named = str(at(p, "name"))
			}
		}
		if named == "" {
			t.Errorf("no container port %s for http.admin_listen %s", adminPort, admin)
		}
		for _, p := range asSlice(at(ms["Service"], "spec", "ports")) {
			if str(at(p, "targetPort")) == named || fmt.Sprint(at(p, "targetPort")) == adminPort {
				t.Errorf("the Service exposes the admin port %s (%s)", adminPort, named)
			}
		}
		for _, rule := range asSlice(at(ms["NetworkPolicy"], "spec", "ingress")) {
			for _, p := range asSlice(at(rule, "ports")) {
				if got := fmt.Sprint(at(p, "port")); got == named || got == adminPort {
					t.Errorf("the NetworkPolicy lets traffic in to the admin port %s", got)
				}
			}
		}
		if str(at(cfg, "http", "admin_token_file")) == "" {
			t.Error("configmap.yaml sets no http.admin_token_file")
		}
	})

	t.Run("ServiceMonitor", func(t *testing.T) {
		sm, svc := ms["ServiceMonitor"], ms["Service"]
		for k, v := range at(sm, "spec", "selector", "matchLabels").(map[string]any) {
			if at(svc, "metadata", "labels", k) != v {
				t.Errorf("ServiceMonitor selects %s=%v, not the Service (labels %v)", k, v, at(svc, "metadata", "labels"))
			}
		}
		if got, want := at(sm, "spec", "endpoints", 0, "port"), at(svc, "spec", "ports", 0, "name"); got != want {
			t.Errorf("ServiceMonitor endpoint port %v, want the Service's %v", got, want)
		}
		// The operator names the job after the Service; the alerts and the
		// dashboard select job="streamscore".
		if got := str(at(svc, "metadata", "name")); got != "streamscore" {
			t.Errorf("Service %q: the ServiceMonitor's job would not be streamscore", got)
		}
	})
}
