package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// helmModule is run with `go run` like kubeconform, so it never enters
// go.mod (Debian has no helm package; the Go module proxy has Helm's module).
const helmModule = "helm.sh/helm/v3/cmd/helm@v3.22.0"

func helm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"run", helmModule}, args...)...)
	cmd.Env = append(os.Environ(), "GOWORK=off", "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// objects decodes a multi-document YAML stream into objects keyed
// "Kind/name"; a ConfigMap's config.yaml is decoded too, so comments in it
// do not count.
func objects(t *testing.T, docs ...[]byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, b := range docs {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if m == nil {
				continue
			}
			if m["kind"] == "Kustomization" {
				continue
			}
			if cfg, ok := at(m, "data", "config.yaml").(string); ok {
				var v any
				if err := yaml.Unmarshal([]byte(cfg), &v); err != nil {
					t.Fatal(err)
				}
				m["data"].(map[string]any)["config.yaml"] = v
			}
			out[str(m["kind"])+"/"+str(at(m, "metadata", "name"))] = m
		}
	}
	return out
}

// kustomized applies dir/kustomization.yaml (dir: deploy/kubernetes or one
// of its door directories) to its files: namespace, labels (metadata only)
// and images, the only fields they use (another field fails the test, so
// this stays what `kubectl apply -k` does).
func kustomized(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	var k struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Namespace  string `yaml:"namespace"`
		Labels     []struct {
			Pairs            map[string]string `yaml:"pairs"`
			IncludeSelectors bool              `yaml:"includeSelectors"`
		} `yaml:"labels"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("%s/kustomization.yaml uses a field this test does not apply: %v", dir, err)
	}
	var docs [][]byte
	for _, r := range k.Resources {
		d, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	objs := objects(t, docs...)
	out := map[string]map[string]any{}
	for _, m := range objs {
		md := m["metadata"].(map[string]any)
		if m["kind"] == "Namespace" {
			md["name"] = k.Namespace
		} else {
			md["namespace"] = k.Namespace
		}
		for _, l := range k.Labels {
			if l.IncludeSelectors {
				t.Fatalf("%s/kustomization.yaml: labels with includeSelectors are not applied by this test", dir)
			}
			labels, _ := md["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
				md["labels"] = labels
			}
			for kk, v := range l.Pairs {
				labels[kk] = v
			}
		}
		for _, c := range asSlice(at(m, "spec", "template", "spec", "containers")) {
			for _, img := range k.Images {
				if cm := c.(map[string]any); cm["image"] == img.Name {
					cm["image"] = img.NewName + ":" + img.NewTag
				}
			}
		}
		out[str(m["kind"])+"/"+str(md["name"])] = m
	}
	return out
}

// doorDirs are the plain manifests of the optional doors, each its own
// kustomization applied beside deploy/kubernetes, with the chart's values
// that render the same objects.
var doorDirs = []struct {
	dir string
	set string // helm --set
}{
	{"kubernetes/serve", "serve.enabled=true"},
	{"kubernetes/sink-postgres", "sink.postgres.enabled=true"},
}

// helmVariants render the chart with the other values that change what it
// renders, for kubeconform and the checks against the service
// (TestDoorsAcceptedByService): they have no plain twin.
var helmVariants = []string{
	"serve.enabled=true,serve.autoscaling.enabled=false,serve.logToTopic=true,serve.shutdownTimeout=15s",
	"sink.postgres.enabled=true,sink.postgres.table=analytics.predictions,sink.postgres.group=sink-v2,sink.postgres.kafkaCredentialsSecret=streamscore-sink-kafka",
}

// helmTemplate renders the chart as `helm install streamscore ... --namespace
// streamscore` would, with set (--set, "" for none).
func helmTemplate(t *testing.T, set string) string {
	t.Helper()
	args := []string{"template", "streamscore", "helm/streamscore", "--namespace", "streamscore"}
	if set != "" {
		args = append(args, "--set", set)
	}
	return helm(t, args...)
}

// TestHelmChart: `helm template` of deploy/helm/streamscore with its default
// values renders the same objects as deploy/kubernetes (the kustomize
// manifests stay the reference; the chart is checked against them), and
// with the doors on, the same objects as deploy/kubernetes and the door
// directories together; the chart lints, and kubeconform accepts what it
// renders in every variant.
func TestHelmChart(t *testing.T) {
	if out := helm(t, "lint", "--strict", "helm/streamscore"); !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint:\n%s", out)
	}
	var all []string
	want := kustomized(t, "kubernetes")
	compareRendered(t, "defaults", helmTemplate(t, ""), want)
	for _, d := range doorDirs {
		all = append(all, d.set)
		for name, m := range kustomized(t, d.dir) {
			if want[name] != nil {
				t.Fatalf("%s: %s is in deploy/kubernetes too", d.dir, name)
			}
			want[name] = m
		}
	}
	compareRendered(t, strings.Join(all, ","), helmTemplate(t, strings.Join(all, ",")), want)
	for _, set := range helmVariants {
		rendered := helmTemplate(t, set)
		validRendering(t, set, rendered, len(objects(t, []byte(rendered))))
	}
}

// compareRendered: rendered has exactly the objects of want, field for
// field, and kubeconform accepts it.
func compareRendered(t *testing.T, set, rendered string, want map[string]map[string]any) {
	t.Helper()
	got := objects(t, []byte(rendered))
	names := func(m map[string]map[string]any) []string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("helm template (%s) renders %v\nthe plain manifests have %v", set, names(got), names(want))
	}
	for name, w := range want {
		if g := got[name]; !reflect.DeepEqual(g, w) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Errorf("%s differs (helm --set %s):\nhelm template:\n%s\nplain manifests:\n%s", name, set, gj, wj)
		}
	}
	validRendering(t, set, rendered, len(want))
	t.Logf("helm template (%s): %d objects, the same as the plain manifests", set, len(got))
}

// validRendering: kubeconform finds n valid objects in rendered and nothing else.
func validRendering(t *testing.T, set, rendered string, n int) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), []byte(rendered), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := kubeconform(t, dir)
	for _, r := range res.Resources {
		if r.Status != "statusValid" {
			t.Errorf("kubeconform on helm template (%s): %s/%s: %s: %s", set, r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if err != nil || res.Summary.Valid != n {
		t.Errorf("kubeconform on helm template (%s): %v, %d valid, want %d", set, err, res.Summary.Valid, n)
	}
	t.Logf("kubeconform on helm template (%s): %+v", set, res.Summary)
}
