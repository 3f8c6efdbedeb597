package deploy_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/internal/tlsfiles/tlstest"
)

// The chart's workloads (the stream, serve, sink postgres) against the
// service itself: every STREAMSCORE_* variable they set is a key of the
// config tree, the ports and probe paths are the ones the binary listens
// on and answers, and the timeouts fit the grace periods.

// localPod is a workload's pod made runnable outside the cluster: its
// ConfigMap and Secret mounts are local files, its environment and args
// point at them.
type localPod struct {
	name  string   // the workload's Kind/name
	pod   any      // its pod template
	c     any      // the container
	podID string   // the name the downward API gives (metadata.name)
	args  []string // the container's args
	env   map[string]string
	files map[string]string // a Secret item's path in the container -> its local file
}

// newLocalPod lays out w's mounts in a temporary directory: ConfigMap keys
// as they are (their paths rewritten), Secret items as stand-ins (a CA
// certificate for ca.crt, a server certificate and key for tls.crt and
// tls.key, a placeholder otherwise). The image's /examples are the
// repository's examples.
func newLocalPod(t *testing.T, objs map[string]map[string]any, w map[string]any) localPod {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	lp := localPod{name: str(w["kind"]) + "/" + str(at(w, "metadata", "name")), pod: at(w, "spec", "template"), files: map[string]string{}, env: map[string]string{}}
	lp.c = at(lp.pod, "spec", "containers", 0)
	lp.podID = str(at(w, "metadata", "name")) + "-0"
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "deploy-test")
	server := ca.Server(t, "streamscore")
	// Secret items first: the ConfigMap's text names them.
	replace := []string{"/examples/", filepath.Join(root, "examples") + "/"}
	var configMaps []any
	for i, m := range asSlice(at(lp.c, "volumeMounts")) {
		for _, v := range asSlice(at(lp.pod, "spec", "volumes")) {
			if at(v, "name") != at(m, "name") {
				continue
			}
			if at(v, "configMap") != nil {
				configMaps = append(configMaps, m, v)
			}
			for j, it := range asSlice(at(v, "secret", "items")) {
				content := []byte("placeholder-secret")
				switch key := str(at(it, "key")); key {
				case "ca.crt":
					content, err = os.ReadFile(ca.File)
				case "tls.crt":
					content, err = os.ReadFile(server.CertFile)
				case "tls.key":
					content, err = os.ReadFile(server.KeyFile)
				}
				if err != nil {
					t.Fatal(err)
				}
				local := filepath.Join(dir, fmt.Sprintf("secret-%d-%d-%s", i, j, str(at(it, "path"))))
				if err := os.WriteFile(local, content, 0o600); err != nil {
					t.Fatal(err)
				}
				inPod := path.Join(str(at(m, "mountPath")), str(at(it, "path")))
				lp.files[inPod] = local
				replace = append(replace, inPod, local)
			}
		}
	}
	rewrite := strings.NewReplacer(replace...)
	var mountDirs []string
	for i := 0; i < len(configMaps); i += 2 {
		m, v := configMaps[i], configMaps[i+1]
		cm := objs["ConfigMap/"+str(at(v, "configMap", "name"))]
		if cm == nil {
			t.Fatalf("%s mounts ConfigMap %v, which the rendering does not have", lp.name, at(v, "configMap", "name"))
		}
		local := filepath.Join(dir, fmt.Sprintf("configmap-%d", i))
		if err := os.Mkdir(local, 0o700); err != nil {
			t.Fatal(err)
		}
		for k, data := range at(cm, "data").(map[string]any) {
			text, ok := data.(string)
			if !ok { // objects() decodes config.yaml; write it back as YAML
				text = string(mustYAML(t, data))
			}
			if err := os.WriteFile(filepath.Join(local, k), []byte(rewrite.Replace(text)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		mountDirs = append(mountDirs, str(at(m, "mountPath"))+"/", local+"/")
	}
	rewrite = strings.NewReplacer(append(replace, mountDirs...)...)
	for _, a := range asSlice(at(lp.c, "args")) {
		lp.args = append(lp.args, rewrite.Replace(str(a)))
	}
	for _, e := range asSlice(at(lp.c, "env")) {
		name := str(at(e, "name"))
		switch {
		case at(e, "value") != nil:
			lp.env[name] = rewrite.Replace(str(at(e, "value")))
		case at(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name":
			lp.env[name] = lp.podID
		case at(e, "valueFrom", "secretKeyRef") != nil:
			lp.env[name] = "secret-" + str(at(e, "valueFrom", "secretKeyRef", "key"))
		case at(e, "valueFrom", "resourceFieldRef", "resource") == "requests.cpu":
			lp.env[name] = "1"
		default:
			t.Fatalf("%s: env %s: a source this test does not stand in for: %v", lp.name, name, e)
		}
	}
	return lp
}

// mustYAML is v encoded as YAML, to write a decoded document back or to
// compare two.
func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envList is env as KEY=VALUE, sorted, with overrides on top.
func envList(env map[string]string, overrides ...string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return append(out, overrides...)
}

// workloads are the Deployments and StatefulSets of a rendering.
func workloads(objs map[string]map[string]any) []map[string]any {
	var out []map[string]any
	for _, name := range sortedNames(objs) {
		if k := objs[name]["kind"]; k == "Deployment" || k == "StatefulSet" {
			out = append(out, objs[name])
		}
	}
	return out
}

func sortedNames(objs map[string]map[string]any) []string {
	var s []string
	for k := range objs {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// containerPort is the number of c's port called name (0: none).
func containerPort(c any, name string) int {
	for _, p := range asSlice(at(c, "ports")) {
		if str(at(p, "name")) == name {
			n, _ := at(p, "containerPort").(int)
			return n
		}
	}
	return 0
}

// sinkShutdown is the time pgsink gives the batch in hand at a graceful
// stop, read from its source (an unexported constant).
func sinkShutdown(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile("../pgsink/sink.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*shutdownTimeout\s*=\s*(\d+)\s*\*\s*time\.Second\b`).FindSubmatch(b)
	if m == nil {
		t.Fatal("pgsink/sink.go: no `shutdownTimeout = N * time.Second`; update this test to read the sink's stop timeout")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return time.Duration(n) * time.Second
}

// doorRenderings are the chart's renderings with the doors: all of them on
// (as the plain manifests), and each variant.
func doorRenderings() []string {
	var all []string
	for _, d := range doorDirs {
		all = append(all, d.set)
	}
	return append([]string{strings.Join(all, ",")}, helmVariants...)
}

// TestDoorsAcceptedByService: `streamscore config` accepts every workload's
// ConfigMap and environment as the chart renders them (an unknown
// STREAMSCORE_* variable is an error there, as at start), and what it
// resolves fits the manifests: the container port http is http.listen's,
// every probe uses a port the container declares, the grace period exceeds
// the drain, the sink's instance id is the pod name and its password file a
// mounted Secret item.
func TestDoorsAcceptedByService(t *testing.T) {
	bin := buildService(t)
	checked := map[string]bool{}
	for _, set := range doorRenderings() {
		objs := objects(t, []byte(helmTemplate(t, set)))
		for _, w := range workloads(objs) {
			lp := newLocalPod(t, objs, w)
			var names []string
			for k := range lp.env {
				if strings.HasPrefix(k, "STREAMSCORE_") {
					names = append(names, k)
					checked[k] = true
				}
			}
			i := slices.Index(lp.args, "--config")
			if i < 0 || i+1 >= len(lp.args) {
				t.Fatalf("%s: args %v name no --config file", lp.name, lp.args)
			}
			cfg := effectiveConfig(t, bin, lp.env, "--config", lp.args[i+1])
			t.Logf("%s (--set %s): `streamscore config` accepts %v", lp.name, set, names)

			_, listenPort, _ := strings.Cut(str(at(cfg, "http", "listen")), ":")
			if p := containerPort(lp.c, "http"); strconv.Itoa(p) != listenPort {
				t.Errorf("%s: container port http is %d, http.listen %v", lp.name, p, at(cfg, "http", "listen"))
			}
			if str(at(lp.pod, "metadata", "annotations", "prometheus.io/port")) != listenPort {
				t.Errorf("%s: prometheus.io/port does not match http.listen %v", lp.name, at(cfg, "http", "listen"))
			}
			for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
				port := str(at(lp.c, probe, "httpGet", "port"))
				if port != "http" {
					t.Errorf("%s: %s on port %q, want the named port http (http.listen)", lp.name, probe, port)
				}
			}
			grace, _ := at(lp.pod, "spec", "terminationGracePeriodSeconds").(int)
			var drain time.Duration
			switch lp.args[0] {
			case "run":
				drain = mustDuration(t, at(cfg, "processor", "shutdown_timeout"))
			case "serve":
				sleep, _ := at(lp.c, "lifecycle", "preStop", "sleep", "seconds").(int)
				drain = time.Duration(sleep)*time.Second + mustDuration(t, at(cfg, "http", "shutdown_timeout"))
				if set == helmVariants[0] && str(at(cfg, "http", "shutdown_timeout")) != "15s" {
					t.Errorf("%s: serve.shutdownTimeout=15s gives http.shutdown_timeout %v", lp.name, at(cfg, "http", "shutdown_timeout"))
				}
				if got, want := at(cfg, "http", "log_to_topic") == true, strings.Contains(set, "serve.logToTopic=true"); got != want {
					t.Errorf("%s: http.log_to_topic %v, want %v", lp.name, got, want)
				}
			case "sink":
				drain = sinkShutdown(t)
				if got := at(cfg, "sink", "postgres", "instance_id"); got != lp.podID {
					t.Errorf("%s: sink.postgres.instance_id = %v, want the pod name %s", lp.name, got, lp.podID)
				}
				pw := str(at(cfg, "sink", "postgres", "password_file"))
				mounted := false
				for _, local := range lp.files {
					mounted = mounted || local == pw
				}
				if !mounted {
					t.Errorf("%s: sink.postgres.password_file %q is no mounted Secret item (%v)", lp.name, pw, lp.files)
				}
			default:
				t.Fatalf("%s: args %v: not a command this test knows", lp.name, lp.args)
			}
			if time.Duration(grace)*time.Second <= drain {
				t.Errorf("%s: terminationGracePeriodSeconds %ds must exceed the drain %s", lp.name, grace, drain)
			}
		}
	}
	for _, want := range []string{"STREAMSCORE_SINK_POSTGRES_INSTANCE_ID", "STREAMSCORE_SINK_POSTGRES_PASSWORD_FILE", "STREAMSCORE_SINK_POSTGRES_DSN",
		"STREAMSCORE_SINK_POSTGRES_TABLE", "STREAMSCORE_SINK_POSTGRES_GROUP", "STREAMSCORE_HTTP_LOG_TO_TOPIC", "STREAMSCORE_HTTP_SHUTDOWN_TIMEOUT"} {
		if !checked[want] {
			t.Errorf("no rendering sets %s: the variants no longer cover it", want)
		}
	}
}

func mustDuration(t *testing.T, v any) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(str(v))
	if err != nil {
		t.Fatalf("duration %v: %v", v, err)
	}
	return d
}

// doorStarted is the log line each door writes once its listeners serve.
var doorStarted = map[string]string{"serve": "streamscore serving", "sink": "streamscore sink postgres running"}

// TestDoorsProbesAnswer starts serve and sink postgres as their pods do
// (the rendered args, environment and mounted files; no Kafka or
// PostgreSQL: the sink is not ready without them) and asks every probe
// path and the ServiceMonitor's /metrics on the port they name: a path the
// service does not serve (404) or a wrong scheme fails.
func TestDoorsProbesAnswer(t *testing.T) {
	bin := buildService(t)
	objs := objects(t, []byte(helmTemplate(t, doorRenderings()[0])))
	// The kubelet does not verify the certificate of an HTTPS probe.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // as the kubelet
	started := 0
	for _, w := range workloads(objs) {
		lp := newLocalPod(t, objs, w)
		msg := doorStarted[lp.args[0]]
		if msg == "" {
			continue // run: TestQueriesMatchScrape runs it
		}
		started++
		t.Run(lp.name, func(t *testing.T) {
			// Loopback ports of the test's choosing instead of 0.0.0.0:9464.
			p := proctest.Start(t, "streamscore "+lp.args[0], proctest.Options{Env: envList(lp.env,
				"STREAMSCORE_HTTP_LISTEN=127.0.0.1:0", "STREAMSCORE_HTTP_ADMIN_LISTEN=127.0.0.1:0")}, bin, lp.args...)
			line := p.WaitLog(scrapeTimeout, msg)
			addr := str(line["http"])
			if addr == "" {
				t.Fatalf("no http address in %v", line)
			}
			get := func(scheme, path string) (int, string, error) {
				resp, body, err := proctest.HTTPDo(client, "GET", strings.ToLower(scheme)+"://"+addr+path, nil)
				if err != nil {
					return 0, "", err
				}
				return resp.StatusCode, string(body), nil
			}
			for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
				scheme, path := str(at(lp.c, probe, "httpGet", "scheme")), str(at(lp.c, probe, "httpGet", "path"))
				if scheme == "" {
					scheme = "HTTP"
				}
				want := http.StatusOK
				if probe == "readinessProbe" && lp.args[0] == "sink" {
					want = http.StatusServiceUnavailable // no PostgreSQL, no Kafka here
				}
				var code int
				var body string
				proctest.Eventually(t, scrapeTimeout, fmt.Sprintf("%s %s %s", probe, scheme, path), func() error {
					var err error
					if code, body, err = get(scheme, path); err != nil {
						return err
					}
					if code == http.StatusNotFound {
						t.Fatalf("%s %s %s: HTTP 404, the service has no such route: %s", probe, scheme, path, body)
					}
					if code != want {
						return fmt.Errorf("HTTP %d: %s", code, body)
					}
					return nil
				}, p)
				t.Logf("%s %s %s: HTTP %d %q", probe, scheme, path, code, strings.TrimSpace(body))
			}
			// What the ServiceMonitors scrape from this pod.
			for _, name := range sortedNames(objs) {
				sm := objs[name]
				if sm["kind"] != "ServiceMonitor" {
					continue
				}
				svc := selectedService(t, objs, sm)
				if !selects(at(svc, "spec", "selector"), at(lp.pod, "metadata", "labels")) {
					continue
				}
				ep := at(sm, "spec", "endpoints", 0)
				code, body, err := get(str(at(ep, "scheme")), str(at(ep, "path")))
				if err != nil || code != http.StatusOK {
					t.Fatalf("%s: %s %s: HTTP %d, %v", name, at(ep, "scheme"), at(ep, "path"), code, err)
				}
				parser := expfmt.NewTextParser(model.UTF8Validation)
				fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
				if err != nil || fams["streamscore_build_info"] == nil {
					t.Errorf("%s: %s is no Prometheus exposition with streamscore_build_info: %v", name, at(ep, "path"), err)
				}
				t.Logf("%s: %s %s: %d metric families", name, at(ep, "scheme"), at(ep, "path"), len(fams))
			}
		})
	}
	if started != 2 {
		t.Errorf("started %d doors, want serve and sink postgres", started)
	}
}

// selects reports whether the label selector sel (a map) matches labels.
func selects(sel, labels any) bool {
	m, _ := sel.(map[string]any)
	l, _ := labels.(map[string]any)
	for k, v := range m {
		if l[k] != v {
			return false
		}
	}
	return len(m) > 0
}

// selectedService is the one Service a ServiceMonitor selects; its
// endpoint's port must be a port of that Service whose targetPort the
// selected pods declare.
func selectedService(t *testing.T, objs map[string]map[string]any, sm map[string]any) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, name := range sortedNames(objs) {
		if o := objs[name]; o["kind"] == "Service" && selects(at(sm, "spec", "selector", "matchLabels"), at(o, "metadata", "labels")) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ServiceMonitor %v selects %d Services, want 1", at(sm, "metadata", "name"), len(found))
	}
	return found[0]
}

// TestDoorsWiring: in the rendering with every door, each Service,
// PodDisruptionBudget, NetworkPolicy, ServiceMonitor and autoscaler selects
// or targets exactly one workload's pods, through ports the container
// declares; no two workloads' selectors overlap (the stream's Service, PDB
// and NetworkPolicy must not take in the doors' pods); the doors' pods are
// secured as the stream's; the NetworkPolicies open the brokers' port to
// the workloads that talk to Kafka and the DSN's port to the sink.
func TestDoorsWiring(t *testing.T) {
	objs := objects(t, []byte(helmTemplate(t, doorRenderings()[0])))
	ws := workloads(objs)
	if len(ws) != 3 {
		t.Fatalf("%d workloads, want run, serve and sink postgres", len(ws))
	}
	byLabels := func(sel any) []map[string]any {
		var out []map[string]any
		for _, w := range ws {
			if selects(sel, at(w, "spec", "template", "metadata", "labels")) {
				out = append(out, w)
			}
		}
		return out
	}
	run := objs["StatefulSet/streamscore"]
	runPod := at(run, "spec", "template", "spec")
	for _, w := range ws {
		name := str(w["kind"]) + "/" + str(at(w, "metadata", "name"))
		if got := byLabels(at(w, "spec", "selector", "matchLabels")); len(got) != 1 || at(got[0], "metadata", "name") != at(w, "metadata", "name") {
			t.Errorf("%s: its selector matches %d workloads' pods, want its own only", name, len(got))
		}
		pod := at(w, "spec", "template", "spec")
		if !slices.Equal(mustYAML(t, at(pod, "securityContext")), mustYAML(t, at(runPod, "securityContext"))) ||
			!slices.Equal(mustYAML(t, at(pod, "containers", 0, "securityContext")), mustYAML(t, at(runPod, "containers", 0, "securityContext"))) {
			t.Errorf("%s: securityContext differs from the stream's (PodSecurity restricted)", name)
		}
		if at(pod, "automountServiceAccountToken") != false {
			t.Errorf("%s: automountServiceAccountToken must be false", name)
		}
		c := at(pod, "containers", 0)
		limit := quantityBytes(t, str(at(c, "resources", "limits", "memory")))
		var gml string
		for _, e := range asSlice(at(c, "env")) {
			if at(e, "name") == "GOMEMLIMIT" {
				gml = str(at(e, "value"))
			}
		}
		if gml == "" || quantityBytes(t, strings.TrimSuffix(gml, "B")) >= limit {
			t.Errorf("%s: GOMEMLIMIT %q must be set below limits.memory", name, gml)
		}
	}
	for _, name := range sortedNames(objs) {
		o := objs[name]
		var sel any
		switch o["kind"] {
		case "Service":
			sel = at(o, "spec", "selector")
		case "PodDisruptionBudget", "ServiceMonitor":
			sel = at(o, "spec", "selector", "matchLabels")
		case "NetworkPolicy":
			sel = at(o, "spec", "podSelector", "matchLabels")
		case "HorizontalPodAutoscaler", "ScaledObject":
			ref := at(o, "spec", "scaleTargetRef")
			if objs[str(at(ref, "kind"))+"/"+str(at(ref, "name"))] == nil {
				t.Errorf("%s targets %v, which is not rendered", name, ref)
			}
			continue
		default:
			continue
		}
		if o["kind"] == "ServiceMonitor" {
			svc := selectedService(t, objs, o)
			sel = at(svc, "spec", "selector")
			var ports []any
			for _, p := range asSlice(at(svc, "spec", "ports")) {
				ports = append(ports, at(p, "name"))
			}
			if !slices.Contains(ports, at(o, "spec", "endpoints", 0, "port")) {
				t.Errorf("%s: endpoint port %v is not a port of Service %v (%v)", name, at(o, "spec", "endpoints", 0, "port"), at(svc, "metadata", "name"), ports)
			}
		}
		got := byLabels(sel)
		if len(got) != 1 {
			t.Errorf("%s selects the pods of %d workloads, want 1", name, len(got))
			continue
		}
		c := at(got[0], "spec", "template", "spec", "containers", 0)
		check := func(what string, port any) {
			if s, ok := port.(string); ok && containerPort(c, s) == 0 {
				t.Errorf("%s: %s %q is no port of the container", name, what, s)
			}
		}
		switch o["kind"] {
		case "Service":
			for _, p := range asSlice(at(o, "spec", "ports")) {
				check("targetPort", at(p, "targetPort"))
			}
		case "NetworkPolicy":
			for _, r := range asSlice(at(o, "spec", "ingress")) {
				for _, p := range asSlice(at(r, "ports")) {
					check("ingress port", at(p, "port"))
				}
			}
			egress := map[string]bool{}
			for _, r := range asSlice(at(o, "spec", "egress")) {
				for _, p := range asSlice(at(r, "ports")) {
					egress[fmt.Sprint(at(p, "port"))] = true
				}
			}
			args := fmt.Sprint(at(c, "args"))
			_, brokerPort, _ := strings.Cut(strings.Split(str(at(objs["ConfigMap/streamscore-config"], "data", "config.yaml", "kafka", "brokers")), ",")[0], ":")
			if talksKafka := !strings.HasPrefix(args, "[serve"); talksKafka != egress[brokerPort] {
				t.Errorf("%s (%s): egress to the brokers' port %s is %v, want %v", name, args, brokerPort, egress[brokerPort], talksKafka)
			}
			if strings.HasPrefix(args, "[sink") {
				for _, e := range asSlice(at(c, "env")) {
					if at(e, "name") == "STREAMSCORE_SINK_POSTGRES_DSN" {
						port := dsnPort(t, str(at(e, "value")))
						if !egress[port] {
							t.Errorf("%s: no egress to PostgreSQL's port %s (the DSN's)", name, port)
						}
					}
				}
			}
		}
	}
}

// dsnPort is the port of a postgres:// DSN (5432 when it names none).
func dsnPort(t *testing.T, dsn string) string {
	t.Helper()
	m := regexp.MustCompile(`^postgres(?:ql)?://[^@/]*@?[^:/?]+(?::(\d+))?`).FindStringSubmatch(dsn)
	if m == nil {
		t.Fatalf("DSN %q: not a postgres:// URL this test reads", dsn)
	}
	if m[1] == "" {
		return "5432"
	}
	return m[1]
}
