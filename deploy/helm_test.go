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

// kustomized applies deploy/kubernetes/kustomization.yaml to its files:
// namespace, labels (metadata only) and images, the only fields it uses
// (another field fails the test, so this stays what `kubectl apply -k` does).
func kustomized(t *testing.T) map[string]map[string]any {
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
	b, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("kustomization.yaml uses a field this test does not apply: %v", err)
	}
	var docs [][]byte
	for _, r := range k.Resources {
		d, err := os.ReadFile(filepath.Join("kubernetes", r))
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
				t.Fatal("kustomization.yaml: labels with includeSelectors are not applied by this test")
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

// TestHelmChart: `helm template` of deploy/helm/streamscore with its default
// values renders the same objects as deploy/kubernetes (the kustomize
// manifests stay the reference; the chart is checked against them), the
// chart lints, and kubeconform accepts what it renders.
func TestHelmChart(t *testing.T) {
	if out := helm(t, "lint", "--strict", "helm/streamscore"); !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint:\n%s", out)
	}
	rendered := helm(t, "template", "streamscore", "helm/streamscore", "--namespace", "streamscore")
	got, want := objects(t, []byte(rendered)), kustomized(t)
	names := func(m map[string]map[string]any) []string {
		var s []string
		for k := range m {
			s = append(s, k)
		}
		sort.Strings(s)
		return s
	}
	if !slices.Equal(names(got), names(want)) {
		t.Fatalf("helm renders %v\ndeploy/kubernetes has %v", names(got), names(want))
	}
	for name, w := range want {
		if g := got[name]; !reflect.DeepEqual(g, w) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Errorf("%s differs:\nhelm template:\n%s\ndeploy/kubernetes:\n%s", name, gj, wj)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), []byte(rendered), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := kubeconform(t, dir)
	for _, r := range res.Resources {
		if r.Status != "statusValid" {
			t.Errorf("kubeconform on helm template: %s/%s: %s: %s", r.Kind, r.Name, r.Status, r.Msg)
		}
	}
	if err != nil || res.Summary.Valid != len(want) {
		t.Errorf("kubeconform on helm template: %v, %d valid, want %d", err, res.Summary.Valid, len(want))
	}
	t.Logf("helm template: %d objects, the same as deploy/kubernetes; kubeconform %+v", len(got), res.Summary)
}
