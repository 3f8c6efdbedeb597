package deploy_test

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// The Prometheus jobs: the ServiceMonitors (the operator names a job after
// the Service it selects), deploy/prometheus/prometheus.yml and the job
// values the alerts, the dashboard and the docs select must be the same
// three, or an up-based alert or a dashboard list silently misses a door.

// monitorJobs are the jobs the ServiceMonitors of the chart with every door
// on make (TestHelmChart keeps it equal to deploy/kubernetes).
func monitorJobs(t *testing.T) map[string]bool {
	t.Helper()
	objs := objects(t, []byte(helmTemplate(t, doorRenderings()[0])))
	jobs := map[string]bool{}
	for _, name := range sortedNames(objs) {
		sm := objs[name]
		if sm["kind"] != "ServiceMonitor" {
			continue
		}
		if jl := at(sm, "spec", "jobLabel"); jl != nil {
			t.Fatalf("ServiceMonitor %s sets jobLabel %v: the job is no longer the Service's name", name, jl)
		}
		jobs[str(at(selectedService(t, objs, sm), "metadata", "name"))] = true
	}
	return jobs
}

// queryJobs are the values of label job that qs match: an equality or each
// value of a regexp that lists fixed values.
func queryJobs(t *testing.T, qs []query) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, q := range qs {
		sels, err := selectors(grafanaToPromQL(q.expr))
		if err != nil {
			continue // reported by TestPromQL
		}
		for _, ms := range sels {
			for _, m := range ms {
				if m.Name != "job" {
					continue
				}
				vals := literalAlternatives(m.Value)
				if m.Type == labels.MatchEqual {
					vals = []string{m.Value}
				}
				for _, v := range vals {
					out[v] = append(out[v], q.where)
				}
			}
		}
	}
	return out
}

// dashboardJobs are the jobs of the dashboard's job variable when All is
// chosen (its allValue, a list of fixed values).
func dashboardJobs(t *testing.T) []string {
	t.Helper()
	var d struct {
		Templating struct {
			List []struct {
				Name     string `json:"name"`
				AllValue string `json:"allValue"`
			} `json:"list"`
		} `json:"templating"`
	}
	b, err := os.ReadFile("grafana/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, v := range d.Templating.List {
		if v.Name == "job" {
			jobs := literalAlternatives(v.AllValue)
			if jobs == nil {
				t.Fatalf("dashboard variable job: allValue %q is not a list of job names", v.AllValue)
			}
			return jobs
		}
	}
	t.Fatal("dashboard.json has no variable job")
	return nil
}

func TestPrometheusJobs(t *testing.T) {
	want := monitorJobs(t)
	if len(want) != 3 {
		t.Errorf("ServiceMonitors make jobs %v, want run's, serve's and sink postgres's", slices.Sorted(maps.Keys(want)))
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	readYAMLPart(t, "prometheus/prometheus.yml", &cfg)
	example := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName != "prometheus" {
			example[sc.JobName] = true
		}
	}
	if !maps.Equal(example, want) {
		t.Errorf("prometheus/prometheus.yml scrapes jobs %v, the ServiceMonitors make %v", slices.Sorted(maps.Keys(example)), slices.Sorted(maps.Keys(want)))
	}
	if got := dashboardJobs(t); !maps.Equal(setOf(got), want) {
		t.Errorf("dashboard variable job lists %v (All), the ServiceMonitors make %v", got, slices.Sorted(maps.Keys(want)))
	}
	used := queryJobs(t, slices.Concat(ruleQueries(t), dashboardQueries(t), docQueries(t)))
	for _, job := range slices.Sorted(maps.Keys(used)) {
		if !want[job] {
			t.Errorf("job %q is no job the ServiceMonitors make (%v); selected by %s", job, slices.Sorted(maps.Keys(want)), strings.Join(used[job], ", "))
		}
	}
	for _, job := range slices.Sorted(maps.Keys(want)) {
		if len(used[job]) == 0 {
			t.Errorf("no alert, panel or doc query selects job %q: its targets are watched by nothing", job)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("jobs %v: ServiceMonitors, prometheus.yml, the dashboard's job list and the queries that select a job agree", slices.Sorted(maps.Keys(want)))
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}
